/**
 * Every key an export line carries, documented or common, with Amplitude's null for "no value": real
 * lines always hold all of them, so sample lines do too.
 */
const EVERY_KEY: Readonly<Record<string, unknown>> = Object.fromEntries(
  [
    '$insert_id', '$insert_key', '$schema', 'adid', 'amplitude_attribution_ids', 'amplitude_event_type', 'amplitude_id', 'app',
    'city', 'client_event_time', 'client_upload_time', 'country', 'data', 'data_type', 'device_brand', 'device_carrier',
    'device_family', 'device_id', 'device_manufacturer', 'device_model', 'device_type', 'dma', 'event_id', 'event_properties',
    'event_time', 'event_type', 'global_user_properties', 'group_properties', 'groups', 'idfa', 'ip_address',
    'is_attribution_event', 'language', 'library', 'location_lat', 'location_lng', 'os_name', 'os_version', 'partner_id',
    'paying', 'plan', 'platform', 'processed_time', 'region', 'sample_rate', 'server_received_time', 'server_upload_time',
    'session_id', 'source_id', 'start_version', 'user_creation_time', 'user_id', 'user_properties', 'uuid', 'version_name',
  ].map((key) => [key, null]),
);

/** One NDJSON export line: the given fields, every other key null, empty dicts as `{}`. */
export function exportLine(fields: Readonly<Record<string, unknown>>): string {
  return JSON.stringify({ ...EVERY_KEY, $schema: 12, data: {}, global_user_properties: {}, group_properties: {}, groups: {}, plan: {}, ...fields });
}

/** The platforms sample events come from, as Amplitude's SDKs report them. */
const PLATFORMS = [
  { platform: 'Web', os_name: 'Chrome', device_type: 'Mac', device_family: 'Mac', library: 'amplitude-ts/2.5.0' },
  { platform: 'iOS', os_name: 'ios', device_type: 'iPhone', device_family: 'Apple iPhone', library: 'amplitude-swift/1.3.0' },
  { platform: 'Android', os_name: 'android', device_type: 'Pixel 8', device_family: 'Google Phone', library: 'amplitude-kotlin/1.16.0' },
] as const;

/** A sample user's device, one of PLATFORMS: the fields of an export line that describe it. */
export function deviceFields(platform: number, user: number): Record<string, unknown> {
  const device = PLATFORMS[platform % PLATFORMS.length] as (typeof PLATFORMS)[number];
  return { ...device, device_carrier: device.platform === 'Web' ? null : 'T-Mobile', device_id: `device-${user}` };
}

/** How many platforms `deviceFields` chooses among. */
export const PLATFORM_COUNT = PLATFORMS.length;
