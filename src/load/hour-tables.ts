import { loaderTable } from '../db/loader-schema.js';
import { EVENT_COLUMNS } from '../transform/event-columns.js';
import { KEYS_COPY_COLUMNS } from '../transform/entry-lines.js';

// The keys COPY's columns that are not columns of events: where each row came from.
const PROVENANCE_TYPES: Readonly<Record<string, string>> = { event_hour: 'integer', archive_entry: 'integer', archive_line: 'integer' };
const REQUIRED = new Set(['uuid', 'event_time', 'event_hour', 'archive_entry', 'archive_line']);

function keyColumn(name: string): string {
  const type = EVENT_COLUMNS.find((c) => c.name === name)?.type ?? PROVENANCE_TYPES[name];
  if (type === undefined) throw new Error(`the keys COPY names ${name}, which has no type`);
  return `${name} ${type}${REQUIRED.has(name) ? ' NOT NULL' : ''}`;
}

/**
 * Every temporary table of an hour's transaction, in one place: created together (one round trip)
 * when the hour begins, so no step depends on another having created its tables, and dropped at
 * commit. `stage_keys` takes the keys COPY's own column list (`KEYS_COPY_COLUMNS`), typed as events
 * types them; the tables of contested keys copy its columns. Who fills each:
 * - stage_keys: the COPY of the hour's keys; staged_contested and staged_members: the hour's copies of
 *   contested uuids and of the members of contested groups, as each is contested (member_groups: the
 *   groups whose members were copied); held_back: the probe, what the rollups count only once it has
 *   stayed through settling (rollups.ts), less what settling moves out.
 * - unchanged, earlier_changed, removed: a reload (the earlier rows written the same, those that
 *   changed, and those it removed).
 * - contested_uuids, contested_points: the probe, the catch-ups and a reload; contested_homes,
 *   contested_groups: settling.
 * - users_lost, sessions_lost, device_users_lost: every move out of events (rollups.ts), read again
 *   under the lock.
 */
export function createHourTables(schema: string): string {
  const group = `${loaderTable(schema, 'insert_group')}(app, device_id, user_id, insert_id)`;
  const tables: Record<string, string> = {
    stage_keys: [
      ...KEYS_COPY_COLUMNS.map(keyColumn),
      `grp text GENERATED ALWAYS AS (${group}) STORED`,
      `grp_hash integer GENERATED ALWAYS AS (hashtext(${group})) STORED`,
    ].join(', '),
    // LIKE copies the columns without their generation: the rows keep the values stage_keys computed.
    staged_contested: 'LIKE stage_keys',
    staged_members: 'LIKE stage_keys',
    // No index on a group: it is as long as the event's device_id, user_id and insert_id together.
    member_groups: 'grp text NOT NULL',
    held_back: 'LIKE stage_keys, PRIMARY KEY (archive_entry, archive_line)',
    unchanged: 'uuid uuid, archive_entry integer, archive_line integer, place text, PRIMARY KEY (uuid, archive_entry, archive_line)',
    earlier_changed: 'n bigint, place text, uuid uuid, t text, archive_entry integer, archive_line integer',
    removed: 'uuid uuid, event_time timestamptz, grp text, status text',
    contested_uuids: 'uuid uuid PRIMARY KEY',
    contested_points: 'grp text NOT NULL, event_time timestamptz NOT NULL',
    contested_homes: 'uuid uuid PRIMARY KEY, grp text',
    contested_groups: 'grp text, first text, last text, chunk bigint',
    users_lost: 'amplitude_id bigint',
    sessions_lost: 'amplitude_id bigint, session_id bigint',
    device_users_lost: 'device_id text, amplitude_id bigint',
  };
  return Object.entries(tables)
    .map(([name, columns]) => `CREATE TEMP TABLE ${name} (${columns}) ON COMMIT DROP;`)
    .join('\n');
}
