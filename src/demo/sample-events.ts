import { deviceFields, exportLine, PLATFORM_COUNT } from './export-line.js';
import { SeededRandom } from './seeded-random.js';

/** The demo's days: upload hours 2024-03-01T00 to 2024-03-03T23. */
export const SAMPLE_FIRST_HOUR = '20240301T00';
export const SAMPLE_LAST_HOUR = '20240303T23';
const FIRST_DAY_MS = Date.UTC(2024, 2, 1);
const DAYS = 3;
const USERS = 400;

const PLACES = [
  ['Berlin', 'Berlin', 'Germany', 'German'],
  ['San Francisco', 'California', 'United States', 'English'],
  ['São Paulo', 'São Paulo', 'Brazil', 'Portuguese'],
  ['Tokyo', 'Tokyo', 'Japan', 'Japanese'],
];
const BROWSING = ['page_view', 'page_view', 'page_view', 'search', 'view_item'];

/** One sample event as the export writes it, with the upload hour it belongs to. */
export interface SampleEvent {
  readonly uploadHour: string;
  readonly line: string;
  /** False for the copies the demo adds to show deduplication. */
  readonly unique: boolean;
}

function timestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

function hourLabel(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}`;
}

/**
 * Three days of a small product's events: 400 users, sessions on one to three days, browsing, and a
 * signup → add_to_cart → purchase funnel that fewer users finish at each step. Some users who signed
 * up come back on a second device, anonymous until they log in. A few events are
 * exported twice (same uuid) or re-sent (same $insert_id, new uuid), as real exports have them.
 * Deterministic: the same events on every run.
 */
export function sampleEvents(): SampleEvent[] {
  const random = new SeededRandom(20240301);
  const events: SampleEvent[] = [];
  for (let user = 1; user <= USERS; user++) {
    const device = deviceFields(random.int(PLATFORM_COUNT), user);
    const place = random.pick(PLACES);
    const firstDay = random.int(DAYS);
    const activeDays = [firstDay, ...[1, 2].map((d) => firstDay + d).filter((d) => d < DAYS && random.next() < 0.45)];
    let signedUp = false;
    let carted = false;
    for (const day of activeDays) {
      let at = FIRST_DAY_MS + day * 86_400_000 + (6 + random.int(15)) * 3_600_000 + random.int(3_600_000);
      const sessionId = at;
      const types: string[] = ['session_start'];
      // A user who signed up may come back on another device: anonymous (an id of its own, no user_id)
      // until they log in, when Amplitude merges that id into theirs.
      const secondDevice = signedUp && random.next() < 0.5;
      const anonymousEvents = secondDevice ? 1 + random.int(3) : 0;
      for (let n = 2 + random.int(6); n > 0; n--) types.push(random.pick(BROWSING));
      if (secondDevice) types.splice(1 + Math.min(anonymousEvents - 1, types.length - 1), 0, 'login');
      if (!signedUp && random.next() < 0.7) {
        types.push('signup');
        signedUp = true;
      }
      if (signedUp && !carted && random.next() < 0.6) {
        types.push('add_to_cart');
        carted = true;
        if (random.next() < 0.5) types.push('purchase');
      }
      const onDevice = secondDevice ? { ...deviceFields(random.int(PLATFORM_COUNT), user), device_id: `device-${user}-b` } : device;
      for (const [position, eventType] of types.entries()) {
        at += 5_000 + random.int(120_000);
        const uploadedAt = at + 2_000 + random.int(8_000);
        const anonymous = position < anonymousEvents;
        const line = exportLine({
          $insert_id: random.uuid(),
          amplitude_id: anonymous ? 900_000_000 + user : 700_000_000 + user,
          app: 187520,
          city: place[0],
          client_event_time: timestamp(at),
          client_upload_time: timestamp(uploadedAt - 1_000),
          country: place[2],
          data_type: 'event',
          event_id: events.length,
          event_properties: eventType === 'purchase' ? { revenue: (1000 + random.int(9000)) / 100, currency: 'EUR' } : { path: `/p/${random.int(50)}` },
          event_time: timestamp(at),
          event_type: eventType,
          ip_address: `203.0.113.${user % 250}`,
          is_attribution_event: false,
          language: place[3],
          os_version: String(14 + (user % 4)),
          paying: signedUp && carted ? 'true' : null,
          processed_time: timestamp(uploadedAt + 1_500),
          region: place[1],
          server_received_time: timestamp(uploadedAt - 300),
          server_upload_time: timestamp(uploadedAt),
          session_id: sessionId,
          user_creation_time: timestamp(FIRST_DAY_MS + firstDay * 86_400_000),
          user_id: signedUp && !anonymous ? `user-${user}` : null,
          user_properties: { plan: carted ? 'pro' : 'free', city: place[0] },
          uuid: random.uuid(),
          ...onDevice,
          version_name: '3.2.0',
        });
        events.push({ uploadHour: hourLabel(uploadedAt), line, unique: true });
        if (random.next() < 0.02) {
          // Exported again in the next hour's archive: the same event, the same uuid.
          events.push({ uploadHour: hourLabel(uploadedAt + 3_600_000), line, unique: false });
        } else if (random.next() < 0.02) {
          // Re-sent by the SDK a minute later: a new uuid, the same $insert_id.
          const resent = { ...(JSON.parse(line) as Record<string, unknown>), uuid: random.uuid(), server_upload_time: timestamp(uploadedAt + 60_000) };
          events.push({ uploadHour: hourLabel(uploadedAt + 60_000), line: JSON.stringify(resent), unique: false });
        }
      }
    }
  }
  return events;
}
