import type pg from 'pg';
import { loaderSchemaOf } from './loader-schema.js';
import { quoteIdentifier } from './pool.js';

/**
 * What every table, view and column of the warehouse means: the one source of the comments in the
 * database (applied by every migrate), the data dictionary and the dbt sources file. A test fails when
 * a relation or column lacks an entry here, or the generated files are stale.
 */
export interface CatalogRelation {
  readonly name: string;
  readonly kind: 'table' | 'view';
  /** Analysts query these; the loader keeps the others for itself. */
  readonly audience: 'analysts' | 'loader';
  /** One table per project, named `<name>_<project_id>`. */
  readonly perProject?: true;
  readonly description: string;
  readonly columns: Readonly<Record<string, string>>;
}

const UTC = 'UTC instant, to the microsecond';

const EVENT_COLUMNS: Readonly<Record<string, string>> = {
  uuid: "Amplitude's id of the event (`uuid`); unique in events.",
  event_time: `When the event happened (\`event_time\`; when missing or unreadable, \`client_event_time\`, then \`server_upload_time\`), ${UTC}. events is partitioned by its month.`,
  event_type: 'The event name as tracked (`event_type`), e.g. `session_start` or a custom name.',
  user_id: 'Your user id as the app set it (`user_id`); NULL for anonymous events.',
  device_id: 'The device id Amplitude or the SDK assigned (`device_id`).',
  app: 'The Amplitude project id (`app`).',
  amplitude_id: "Amplitude's internal user id (`amplitude_id`), which merges the user's devices.",
  session_id: 'The session start in milliseconds since the epoch (`session_id`); -1 for events outside a session.',
  event_id: 'A per-device event counter the SDK sets (`event_id`).',
  insert_id: 'The `$insert_id` the sender set for deduplication; NULL or empty when none.',
  insert_key: 'The `$insert_key` of the export line, when present.',
  client_event_time: `When the event happened by the device's clock (\`client_event_time\`), ${UTC}.`,
  client_upload_time: `When the device sent the event (\`client_upload_time\`), ${UTC}.`,
  server_received_time: `When Amplitude received the event (\`server_received_time\`), ${UTC}.`,
  server_upload_time: `When Amplitude stored the event (\`server_upload_time\`), ${UTC}; it decides the upload hour.`,
  processed_time: `When Amplitude processed the event (\`processed_time\`), ${UTC}.`,
  user_creation_time: `When Amplitude first saw the user (\`user_creation_time\`), ${UTC}.`,
  platform: 'The platform (`platform`): Web, iOS, Android, ...',
  os_name: 'Operating system or browser name (`os_name`).',
  os_version: 'Operating system or browser version (`os_version`).',
  device_type: 'Device type (`device_type`).',
  device_family: 'Device family (`device_family`).',
  device_carrier: 'Mobile carrier (`device_carrier`).',
  device_brand: 'Device brand (`device_brand`).',
  device_manufacturer: 'Device manufacturer (`device_manufacturer`).',
  device_model: 'Device model (`device_model`).',
  city: 'City by IP geolocation (`city`).',
  region: 'Region or state by IP geolocation (`region`).',
  country: 'Country by IP geolocation (`country`).',
  dma: 'Designated market area, US only (`dma`).',
  language: 'Device language (`language`).',
  library: 'The SDK that sent the event and its version (`library`).',
  ip_address: 'The sender IP address (`ip_address`); personal data.',
  version_name: 'App version (`version_name`).',
  start_version: 'App version the user first used (`start_version`).',
  adid: 'Android advertising id (`adid`); personal data.',
  idfa: 'iOS advertising id (`idfa`); personal data.',
  data_type: 'Kind of record in the export (`data_type`), e.g. `event`.',
  partner_id: 'Partner integration id (`partner_id`).',
  source_id: 'Source id (`source_id`).',
  amplitude_event_type: "Amplitude's own event category (`amplitude_event_type`), e.g. for identify or revenue events.",
  location_lat: 'Latitude the device reported (`location_lat`); NULL when a double cannot hold it exactly (then it is in extra).',
  location_lng: 'Longitude the device reported (`location_lng`); NULL when a double cannot hold it exactly (then it is in extra).',
  sample_rate: 'Sample rate (`sample_rate`); NULL when a double cannot hold it exactly (then it is in extra).',
  paying: 'Whether the user has paid (`paying`, from true/false or "true"/"false").',
  is_attribution_event: 'Whether this is an attribution event (`is_attribution_event`).',
  event_properties: 'The event properties (`event_properties`), exactly the source JSON; `->>` reads a value as text.',
  user_properties: 'The user properties at the time of the event (`user_properties`), exactly the source JSON.',
  group_properties: 'Group properties (`group_properties`), exactly the source JSON.',
  groups: 'Groups the user belongs to (`groups`), exactly the source JSON.',
  data: 'Amplitude metadata of the event (`data`), exactly the source JSON.',
  plan: 'Tracking plan branch, source and version (`plan`), exactly the source JSON.',
  global_user_properties: 'Global user properties (`global_user_properties`), exactly the source JSON.',
  amplitude_attribution_ids: 'Attribution ids (`amplitude_attribution_ids`), exactly the source JSON.',
  extra: 'Every other top-level key of the export line (`$schema`, keys Amplitude adds later), and any value its typed column could not hold, under its own name; `{}` when none.',
  upload_hour: 'The upload hour (by `server_upload_time`, UTC) whose export held this row.',
  archive_entry: "The archive entry the row was read from: a position (from 1) in that hour's upload_hours.entry_names.",
  archive_line: 'The line of that entry, from 1.',
  project: 'The Amplitude project (`--project`, default `default`) whose export held the row; dedup never compares rows of two projects.',
  loaded_at: `When the row was loaded: the start of its hour's transaction, ${UTC}. Rows loaded before this column existed carry their hour's finish.`,
};

const PROJECT = 'The Amplitude project (`--project`, default `default`) whose export held the row.';
const USER = 'The user: Amplitude\'s amplitude_id, which merges a user\'s devices.';
const DAY = 'The UTC day of event_time.';

// The rollups are views over a folded table and pending changes in the loader's schema (migration 0013).
const ROLLUP = 'Exact at every commit: the folded rows and the changes of committed hours not folded yet (the loader keeps both).';

const ANALYST_RELATIONS: readonly CatalogRelation[] = [
  {
    name: 'events',
    kind: 'table',
    audience: 'analysts',
    description:
      'Amplitude events, one row per event: deduplicated on uuid and on $insert_id within each project, typed, all times UTC. Partitioned by month of event_time: events_pYYYY_MM for each month from 2010-01 to 2039-12, events_before_2010 and events_from_2040 for every time outside those years (any year PostgreSQL can hold).',
    columns: EVENT_COLUMNS,
  },
  {
    name: 'sessions',
    kind: 'view',
    audience: 'analysts',
    description:
      `Rollup: one row per project, user (amplitude_id) and session_id, Amplitude's sessions: the events of one user sharing a session_id. A session_id of -1 (or none) makes no session; those events are counted per user and day in daily_users.sessionless_events. The first and last event are the earliest and latest by event_time, then uuid. ${ROLLUP}`,
    columns: {
      project: PROJECT,
      amplitude_id: USER,
      session_id: 'The session start in milliseconds since the epoch, as Amplitude numbers sessions (set by the device).',
      app: "The Amplitude project id of the session's first event.",
      device_id: "The device of the session's first event.",
      user_id: "The user_id of the session's last event; NULL when it had none.",
      platform: "The platform of the session's first event.",
      country: "The country of the session's first event.",
      session_start: `The first event_time of the session, ${UTC}.`,
      session_end: `The last event_time of the session, ${UTC}.`,
      duration: 'session_end - session_start.',
      event_count: 'Events in the session.',
      first_event_type: 'The event_type of the first event.',
      last_event_type: 'The event_type of the last event.',
      session_number: "The session's number in the user's history: 1 for their first by session_start (then session_id). Computed when asked for, over the user's sessions.",
    },
  },
  {
    name: 'event_counts',
    kind: 'view',
    audience: 'analysts',
    description:
      `Rollup: events per project, UTC day and event type. ${ROLLUP}`,
    columns: {
      project: PROJECT,
      day: DAY,
      event_type: 'The event name; NULL for events without one.',
      events: 'Events of that type that day.',
    },
  },
  {
    name: 'daily_users',
    kind: 'view',
    audience: 'analysts',
    description:
      `Rollup: one row per project, UTC day, user and platform the user was active on, with their events; what the DAU tables count, and a small table for retention and frequency. Events without an amplitude_id are not in it. ${ROLLUP}`,
    columns: {
      project: PROJECT,
      day: DAY,
      amplitude_id: USER,
      platform: 'The platform; NULL when the events carried none.',
      events: "The user's events that day on that platform.",
      sessionless_events: 'Of those, the events outside any session (session_id -1 or none).',
    },
  },
  {
    name: 'daily_active_users',
    kind: 'view',
    audience: 'analysts',
    description: `Rollup: distinct users (amplitude_id) with at least one event, per project and UTC day, over all platforms. ${ROLLUP}`,
    columns: { project: PROJECT, day: DAY, active_users: 'Distinct users active that day.' },
  },
  {
    name: 'daily_active_users_by_platform',
    kind: 'view',
    audience: 'analysts',
    description: `Rollup: distinct users (amplitude_id) with at least one event, per project, UTC day and platform. ${ROLLUP}`,
    columns: {
      project: PROJECT,
      day: DAY,
      platform: 'The platform; NULL when the events carried none.',
      active_users: 'Distinct users active that day on that platform.',
    },
  },
  {
    name: 'users',
    kind: 'view',
    audience: 'analysts',
    description: `Rollup: one row per project and user (amplitude_id) in events, with when they were first and last seen and their latest user_properties. ${ROLLUP}`,
    columns: {
      project: PROJECT,
      amplitude_id: USER,
      first_seen: `The user's first event_time, ${UTC}.`,
      last_seen: `The user's last event_time, ${UTC}.`,
      last_event_uuid: 'The uuid of that last event (of two at the same instant, the greater uuid).',
      user_id: 'The user_id of that last event; NULL when it had none.',
      user_properties: 'The user_properties of that last event, exactly the source JSON.',
      person_id: 'The person: the amplitude_id this id was merged into (merged_ids), or its own when it was not merged.',
    },
  },
  {
    name: 'daily_metrics',
    kind: 'view',
    audience: 'analysts',
    description:
      'Per project and UTC day, from the rollups (exact at every commit, as they are): events, active and new users, sessions started and their average length, events outside sessions. One row per day with events.',
    columns: {
      project: PROJECT,
      day: DAY,
      events: 'Events that day (event_counts).',
      active_users: 'Distinct users (amplitude_id) with an event that day (daily_active_users).',
      new_users: 'Users whose first event (users.first_seen) is that day.',
      sessions: 'Sessions that started that day (sessions.session_start).',
      average_session_length: 'The average duration of those sessions; NULL when none started.',
      sessionless_events: "Users' events outside any session that day (daily_users.sessionless_events).",
      active_people: 'Distinct people with an event that day (daily_active_people).',
    },
  },
  {
    name: 'merged_ids',
    kind: 'view',
    audience: 'analysts',
    description:
      "Ids Amplitude merged, inferred from the events (the Export API ships no MERGE_IDS table; this one is shaped like Amplitude's MERGE_IDS_<project>): an amplitude_id none of whose events carries a user_id, merged into the amplitude_id of the first event with a user_id on a device where it had an event before; an event whose data holds merged_amplitude_id states its merge itself, which wins. Exact at every commit.",
    columns: {
      project: PROJECT,
      amplitude_id: 'The id kept: the identified user the anonymous id was merged into.',
      merged_amplitude_id: 'The anonymous id merged into it.',
      merge_event_time: `When: the event_time of the first identified event on the device, ${UTC}.`,
      device_id: "The device both ids were seen on (evidence 'device'), or the stating event's device.",
      evidence: "How the merge is known: 'device' (the rule) or 'data.merged_amplitude_id' (an event of the kept id says so).",
    },
  },
  {
    name: 'daily_active_people',
    kind: 'view',
    audience: 'analysts',
    description: 'Distinct people with at least one event, per project and UTC day: daily_users with each merged id counted as the id it was merged into (merged_ids). Exact at every commit.',
    columns: { project: PROJECT, day: DAY, active_people: 'Distinct people active that day.' },
  },
  {
    name: 'coverage',
    kind: 'view',
    audience: 'analysts',
    description: 'What is loaded, per project: the span of upload hours loaded, the gaps and failures in it, and how fresh the newest hour is.',
    columns: {
      project: 'The Amplitude project.',
      first_hour: 'The first upload hour loaded (or found empty), UTC.',
      last_hour: 'The last upload hour loaded (or found empty), UTC.',
      hours_done: 'Upload hours done: hours_with_data + hours_empty.',
      hours_with_data: 'Upload hours loaded with rows from their export.',
      hours_empty: 'Upload hours the Export API had no data for.',
      hours_missing: 'Hours between first_hour and last_hour not loaded: failed or never requested.',
      hours_failed: 'Hours whose last attempt failed (the loader retries them on its next run).',
      rows_inserted: 'Rows the loaded hours added to events when they loaded.',
      last_loaded_at: `When the last hour committed, ${UTC}.`,
      freshness: 'How old the newest loaded data is: now() minus the end of last_hour.',
    },
  },
];

const ROLLUP_VIEWS = ['event_counts', 'daily_users', 'daily_active_users', 'daily_active_users_by_platform', 'users', 'sessions'];
// The text columns the folded and pending tables key by their SHA-256 (a btree entry cannot hold a long text).
const TEXT_KEYS: Readonly<Record<string, string>> = { event_counts: 'event_type', daily_users: 'platform', daily_active_users_by_platform: 'platform' };
const PENDING = new Set(['event_counts', 'daily_users', 'users', 'sessions']);
// A session's state as the loader keeps it; the view computes duration, event_count and session_number.
const SESSION_STATE: Readonly<Record<string, string>> = {
  project: PROJECT,
  amplitude_id: USER,
  session_id: 'The session_id.',
  session_start: `The first event's event_time, ${UTC}.`,
  first_event_uuid: "The first event's uuid.",
  first_event_type: "The first event's event_type.",
  app: "The first event's app.",
  device_id: "The first event's device_id.",
  platform: "The first event's platform.",
  country: "The first event's country.",
  session_end: `The last event's event_time, ${UTC}.`,
  last_event_uuid: "The last event's uuid.",
  last_event_type: "The last event's event_type.",
  user_id: "The last event's user_id.",
  events: 'Events in the session.',
};

/** The loader's tables behind each rollup view: what is folded, and what is pending. */
function rollupTables(): CatalogRelation[] {
  const tables: CatalogRelation[] = [];
  for (const view of ANALYST_RELATIONS.filter((r) => ROLLUP_VIEWS.includes(r.name))) {
    const text = TEXT_KEYS[view.name];
    const key = text === undefined ? {} : { [`${text}_key`]: `SHA-256 of ${text} (one byte for NULL): the unique key, whatever the text's length.` };
    // What the loader keeps of each; the views compute the rest (person_id from merged_ids).
    const { person_id: _person, ...userState } = view.columns;
    const state = view.name === 'sessions' ? SESSION_STATE : view.name === 'users' ? userState : view.columns;
    tables.push({
      name: `${view.name}_folded`,
      kind: 'table',
      audience: 'loader',
      description: `The folded part of the ${view.name} view: what the folds applied, one fold at a time per project. Internal; read the view.`,
      columns: { ...state, ...key },
    });
    if (!PENDING.has(view.name)) continue;
    const columns: Record<string, string> = { ...state };
    if (view.name === 'users' || view.name === 'sessions') {
      const whose = view.name === 'users' ? 'the user' : 'the session';
      columns.complete = `true: the whole state of ${whose} as events had it when an hour took a row of ${view.name === 'users' ? 'theirs' : 'its'} away (no times: no event left), replacing the folded row and the changes of the hours before; false: what an hour added (${view.name === 'users' ? 'its newest row' : 'its first and last rows and their count'}).`;
      columns.xid = 'The transaction (hour) that appended the row; users_pending_hours gives its place in the order hours committed.';
    } else {
      columns.events = 'The signed change: rows entering events count +1, rows leaving -1.';
      if (view.name === 'daily_users') columns.sessionless_events = 'The signed change of sessionless_events.';
    }
    tables.push({
      name: `${view.name}_pending`,
      kind: 'table',
      audience: 'loader',
      description: `Changes to ${view.name} appended by committed hours and not folded yet; the next fold applies and deletes them. Internal.`,
      columns,
    });
  }
  const { duration: _duration, event_count: _count, session_number: _number, ...sessionColumns } = ANALYST_RELATIONS.find((r) => r.name === 'sessions')?.columns ?? {};
  const daily = (what: string): Record<string, string> => ({
    project: PROJECT,
    day: DAY,
    sessions: `Sessions that start that day${what}.`,
    total_seconds: `Their durations summed, in seconds (numeric: exact, and no sum overflows)${what}.`,
  });
  tables.push(
    {
      name: 'sessions_touched',
      kind: 'view',
      audience: 'loader',
      description: 'The sessions pending changes touch, as folded + pending make them (the sessions view reads it for those). Internal.',
      columns: { ...sessionColumns, events: 'Events in the session.' },
    },
    {
      name: 'daily_sessions',
      kind: 'view',
      audience: 'loader',
      description: 'Sessions started per project and UTC day and their summed length, folded + pending: what daily_metrics reads. Internal.',
      columns: daily(''),
    },
    {
      name: 'daily_sessions_folded',
      kind: 'table',
      audience: 'loader',
      description: 'The folded part of daily_sessions, kept by the fold from the days the sessions it changes start on, before and after. Internal.',
      columns: daily(', as folded'),
    },
  );
  const device: Record<string, string> = {
    project: PROJECT,
    device_id: 'The device_id; NULL for events without one.',
    amplitude_id: USER,
    first_seen: `The user's first event_time on the device, ${UTC}.`,
    first_identified_at: `The user's first event_time on the device with a user_id, ${UTC}; NULL when none had one.`,
  };
  tables.push(
    {
      name: 'device_users',
      kind: 'view',
      audience: 'loader',
      description: 'Per project, device and user, when the user was first seen and first identified there: folded + pending, exact at every commit. What merged_ids is inferred from. Internal.',
      columns: { ...device, device_key: 'SHA-256 of device_id (one byte for NULL).' },
    },
    {
      name: 'device_users_folded',
      kind: 'table',
      audience: 'loader',
      description: 'The folded part of the device_users view. Internal; read the view.',
      columns: { ...device, device_key: 'SHA-256 of device_id (one byte for NULL): the unique key, whatever the text\'s length.' },
    },
    {
      name: 'device_users_pending',
      kind: 'table',
      audience: 'loader',
      description: 'Changes to device_users appended by committed hours and not folded yet; the next fold applies and deletes them. Internal.',
      columns: {
        ...device,
        complete: 'true: the pair\'s whole state as events had it when an hour took a row of it away (no times: no row left), replacing the folded row and the changes of the hours before; false: the earliest times among the rows an hour added.',
        xid: 'The transaction (hour) that appended the row; users_pending_hours gives its place in the order hours committed.',
      },
    },
  );
  tables.push({
    name: 'stated_merges',
    kind: 'table',
    audience: 'loader',
    description:
      "One row per row of events whose data states a merge (data.merged_amplitude_id, a whole number that fits a bigint), written and deleted with it: what merged_ids reads of them, so it reads no events. Internal.",
    columns: {
      project: PROJECT,
      upload_hour: 'The stating row\'s upload hour.',
      archive_entry: 'The stating row\'s archive entry.',
      archive_line: 'The stating row\'s line in that entry.',
      loaded_at: 'When the stating row was loaded.',
      amplitude_id: 'The id kept: the stating row\'s amplitude_id.',
      merged_amplitude_id: 'The id the row says was merged into it.',
      event_time: `The stating row's event_time, ${UTC}.`,
      device_id: "The stating row's device_id.",
    },
  });
  tables.push({
    name: 'users_pending_hours',
    kind: 'table',
    audience: 'loader',
    description: 'The order in which the hours that appended to users_pending, sessions_pending and device_users_pending committed; a fold deletes each with its rows. Internal.',
    columns: {
      xid: 'The hour\'s transaction, as users_pending.xid.',
      project: 'The Amplitude project the hour belongs to.',
      merge_seq: 'The hour\'s merge sequence: the order hours of the project held the dedup lock, which is the order they committed in.',
    },
  });
  return tables;
}

export const CATALOG: readonly CatalogRelation[] = [
  ...ANALYST_RELATIONS,
  ...rollupTables(),
  {
    name: 'upload_hours',
    kind: 'table',
    audience: 'loader',
    description:
      'The bookkeeping: one row per project and upload hour the loader attempted, committed with the hour\'s rows. Which hours are loaded, empty or failed, and what each held.',
    columns: {
      upload_hour: 'The upload hour (UTC, by server_upload_time) as requested from the Export API.',
      status: 'loaded (its rows are in), empty (the Export API had no data) or failed (see last_error; retried by the next run).',
      attempts: 'Attempts the last run made for the hour.',
      events_read: 'Non-blank lines read from the archive.',
      rows_inserted: "This hour's copies that ended as rows of events.",
      duplicates_uuid: "This hour's copies dropped as duplicates by uuid.",
      duplicates_insert_id: "This hour's copies dropped as duplicates by $insert_id.",
      rows_superseded: "Rows of hours loaded earlier that this hour's events replaced (a duplicate uploaded earlier wins).",
      rows_restored: 'Rows of hours loaded earlier that came back into events because of this hour (a reload removed what had replaced them).',
      rejected_lines: 'Lines that were not events; they are in rejects.',
      sanitized_values: 'Values changed to be storable: NUL, unpaired surrogates and invalid UTF-8 became U+FFFD; numbers jsonb cannot hold became strings.',
      bytes_downloaded: 'Compressed bytes of the archive.',
      archive_entries: 'Archive entries read.',
      entries_skipped: 'Archive entries passed over because their names are not .json.gz, .gz, .json or .ndjson; each is named in the run log.',
      started_at: `When the last attempt began, ${UTC}.`,
      finished_at: `When the hour committed or failed, ${UTC}.`,
      last_error: 'Why the hour failed; NULL once loaded or empty.',
      entry_names: 'The archive entries of the hour in the order they were read; events.archive_entry is a position in this array.',
      project: 'The Amplitude project.',
    },
  },
  {
    name: 'rejects',
    kind: 'table',
    audience: 'loader',
    description: 'Lines of the export that are not events (not JSON, no uuid, no usable time), kept whole with the reason.',
    columns: {
      upload_hour: 'The upload hour whose archive held the line.',
      entry_name: 'The name of that entry.',
      line_number: 'The line of that entry, from 1.',
      reason: 'Why the line is not an event.',
      raw_line: 'The line as read (invalid UTF-8 and NUL replaced by U+FFFD).',
      rejected_at: `When the line was rejected, ${UTC}.`,
      archive_entry: "The archive entry the line was read from: a position in that hour's upload_hours.entry_names.",
      project: 'The Amplitude project.',
    },
  },
  {
    name: 'duplicates',
    kind: 'table',
    audience: 'loader',
    description:
      'Copies deduplication dropped, whole, with the rule that dropped them; a reload of what displaced one can bring it back into events.',
    columns: { ...EVENT_COLUMNS, rule: 'The rule that dropped the copy: uuid (a copy uploaded earlier has the uuid) or insert_id.' },
  },
  {
    name: 'projects',
    kind: 'table',
    audience: 'loader',
    description: "The projects loaded into this warehouse. A project's row is its dedup lock; its keys are in event_keys_<project_id>. Internal.",
    columns: {
      project_id: 'The number in the name of its keys table.',
      project: 'The project name (--project).',
      created_at: `When it first loaded, ${UTC}.`,
    },
  },
  {
    name: 'event_keys',
    kind: 'table',
    audience: 'loader',
    perProject: true,
    description: 'Deduplication state of one project (event_keys_<project_id>): for each uuid, the hour of its representative and the hash of its insert group. Internal.',
    columns: {
      uuid: 'The uuid of a kept event or of a copy the insert_id rule dropped.',
      event_hour: "Hours since the epoch (UTC) of the representative's event_time.",
      group_hash: 'A 4-byte hash of the insert group (app, device or user, insert_id); NULL when the insert_id rule cannot apply.',
    },
  },
  {
    name: 'recent_merges',
    kind: 'table',
    audience: 'loader',
    description: 'Hashes of the keys of the last merges, so an hour can catch up with what others merged since it probed. Internal.',
    columns: {
      id: 'Order of the merges.',
      merge_seq: 'The merge number, in commit order.',
      upload_hour: 'The hour that merged.',
      uuid_hashes: 'Hashes of its uuids.',
      group_hashes: 'Hashes of its insert groups.',
      project: 'The project of the hour.',
    },
  },
  {
    name: 'hour_claims',
    kind: 'table',
    audience: 'loader',
    description: 'Which loader is working on which upload hour; a claim is deleted when its hour commits. Internal.',
    columns: {
      upload_hour: 'The claimed hour.',
      owner_id: "The claiming loader's id; its session holds advisory lock (1095585868, owner_id) while it lives.",
      owner: 'Host and process id of the claiming loader.',
      claimed_at: `When it claimed the hour, ${UTC}.`,
      lease_until: `Until when the claim holds unless renewed, ${UTC}.`,
      project: 'The project of the hour.',
    },
  },
  {
    name: 'kysely_migration',
    kind: 'table',
    audience: 'loader',
    description: 'The migrations (sql/ files) applied to this warehouse. Internal.',
    columns: { name: 'The migration file, without .sql.', timestamp: 'When it was applied.' },
  },
  {
    name: 'kysely_migration_lock',
    kind: 'table',
    audience: 'loader',
    description: 'The migrator\'s own lock row. Internal.',
    columns: { id: 'The lock name.', is_locked: '1 while a migration runs.' },
  },
];

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The schema a relation of the catalog lives in: the analysts' or the loader's. */
export function schemaOf(relation: CatalogRelation, schema: string): string {
  return relation.audience === 'analysts' ? schema : loaderSchemaOf(schema);
}

function relationComments(relation: CatalogRelation, qualified: string, name: string, current: ReadonlyMap<string, string>): string[] {
  const statements: string[] = [];
  if (current.get(name) !== relation.description) {
    statements.push(`COMMENT ON ${relation.kind === 'view' ? 'VIEW' : 'TABLE'} ${qualified} IS ${literal(relation.description)};`);
  }
  for (const [column, description] of Object.entries(relation.columns)) {
    if (current.get(`${name}.${column}`) === description) continue;
    statements.push(`COMMENT ON COLUMN ${qualified}.${quoteIdentifier(column)} IS ${literal(description)};`);
  }
  return statements;
}

/**
 * COMMENT ON each relation and column of the catalog whose comment is not already the catalog's
 * (`current`: comments by `relation` or `relation.column`, as `currentComments` reads them), as one
 * script; empty when all are. Per-project tables are named in `projectTables` (their relation's name
 * and the actual names). COMMENT takes a SHARE UPDATE EXCLUSIVE lock, which a loader starting beside
 * busy ones should not wait for without need.
 */
export function commentScript(schema: string, current: ReadonlyMap<string, string> = new Map(), projectIds: readonly number[] = []): string {
  const statements: string[] = [];
  for (const relation of CATALOG) {
    const names = relation.perProject ? projectIds.map((id) => `${relation.name}_${id}`) : [relation.name];
    for (const name of names) {
      statements.push(...relationComments(relation, `${quoteIdentifier(schemaOf(relation, schema))}.${quoteIdentifier(name)}`, name, current));
    }
  }
  return statements.join('\n');
}

/** The comments of a project's new keys table. */
export function keysTableComments(schema: string, table: string): string {
  const relation = CATALOG.find((r) => r.name === 'event_keys') as CatalogRelation;
  return relationComments(relation, `${quoteIdentifier(loaderSchemaOf(schema))}.${quoteIdentifier(table)}`, table, new Map()).join('\n');
}

/** The comments of the warehouse's relations and columns (both schemas), by `relation` and `relation.column`. */
export async function currentComments(client: pg.ClientBase, schema: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ key: string; comment: string }>(
    `SELECT c.relname || coalesce('.' || a.attname, '') AS key, d.description AS comment
       FROM pg_description d
       JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
      WHERE c.relnamespace IN ($1::regnamespace, $2::regnamespace)`,
    [schema, loaderSchemaOf(schema)],
  );
  return new Map(rows.map((r) => [r.key, r.comment]));
}
