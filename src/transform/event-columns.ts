/**
 * The typed columns of `events`, in table order, and the export key each is read from.
 * sql/0001_events.sql creates the same columns in the same order; a test holds the two together.
 */

export type ColumnType = 'uuid' | 'timestamptz' | 'bigint' | 'double precision' | 'boolean' | 'jsonb' | 'text';

export interface EventColumn {
  readonly name: string;
  /** The top-level key of the export line. */
  readonly key: string;
  readonly type: ColumnType;
}

function columns(type: ColumnType, names: string[]): EventColumn[] {
  return names.map((name) => ({ name, key: name, type }));
}

export const EVENT_COLUMNS: readonly EventColumn[] = [
  { name: 'uuid', key: 'uuid', type: 'uuid' },
  ...columns('timestamptz', ['event_time']),
  ...columns('text', ['event_type', 'user_id', 'device_id']),
  ...columns('bigint', ['app', 'amplitude_id', 'session_id', 'event_id']),
  { name: 'insert_id', key: '$insert_id', type: 'text' },
  { name: 'insert_key', key: '$insert_key', type: 'text' },
  ...columns('timestamptz', [
    'client_event_time',
    'client_upload_time',
    'server_received_time',
    'server_upload_time',
    'processed_time',
    'user_creation_time',
  ]),
  ...columns('text', [
    'platform',
    'os_name',
    'os_version',
    'device_type',
    'device_family',
    'device_carrier',
    'device_brand',
    'device_manufacturer',
    'device_model',
    'city',
    'region',
    'country',
    'dma',
    'language',
    'library',
    'ip_address',
    'version_name',
    'start_version',
    'adid',
    'idfa',
    'data_type',
    'partner_id',
    'source_id',
    'amplitude_event_type',
  ]),
  ...columns('double precision', ['location_lat', 'location_lng', 'sample_rate']),
  ...columns('boolean', ['paying', 'is_attribution_event']),
  ...columns('jsonb', [
    'event_properties',
    'user_properties',
    'group_properties',
    'groups',
    'data',
    'plan',
    'global_user_properties',
    'amplitude_attribution_ids',
  ]),
];

/** Every top-level key without a column of its own lands here, under its own name. */
export const EXTRA_COLUMN = 'extra';

/** All columns of `events` in table order. */
export const EVENTS_TABLE_COLUMNS: readonly string[] = [...EVENT_COLUMNS.map((c) => c.name), EXTRA_COLUMN];

export const COLUMN_INDEX_BY_KEY: ReadonlyMap<string, number> = new Map(EVENT_COLUMNS.map((c, i) => [c.key, i]));

export function columnIndex(name: string): number {
  const index = EVENT_COLUMNS.findIndex((c) => c.name === name);
  if (index < 0) throw new Error(`no column ${name}`);
  return index;
}
