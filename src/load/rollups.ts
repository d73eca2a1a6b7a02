import type pg from 'pg';
import { analystTable, loaderTable } from '../db/loader-schema.js';
import { classifyDatabaseError } from '../errors.js';
import type { RegisteredProject } from '../state/projects.js';
import { deviceUserStatesOf, rowsFor, sessionStatesOf, userStatesOf } from './lookups.js';

/**
 * The rollups (event_counts, daily_users, daily_active_users[_by_platform], users, sessions), kept without the
 * dedup lock (migration 0013). An hour only appends signed changes to `*_pending`: its own rows
 * (`recordHourRollups`: before the lock, those settling cannot move; after it, the contested ones that
 * stayed) and every other row deduplication or a reload moves out of events (-1) or back in (+1), in
 * the statement that moves it (`recordRowsEntering`, `recordRowsLeaving`). Appends never wait for
 * each other. After the hour commits, `foldRollups` applies what is pending to `*_folded`, one fold at a
 * time per project, by whichever loader comes next; nobody waits for it. Analysts read views of folded
 * + pending, so the rollups equal a recomputation from events at every commit, folded or not.
 */

const DAY = `(event_time AT TIME ZONE 'UTC')::date`;
/** A row that belongs to a session (migration 0016): a user's, with a session_id other than -1. */
const IN_SESSION = `amplitude_id IS NOT NULL AND session_id <> -1`;
const OUTSIDE_SESSION = `(session_id IS NULL OR session_id = -1)`;
/** Rows whose data states a merge (migration 0017): `data.merged_amplitude_id`, a whole number that fits a bigint. */
const STATES_MERGE = `data ? 'merged_amplitude_id' AND data->>'merged_amplitude_id' ~ '^[0-9]{1,18}$' AND amplitude_id IS NOT NULL`;
const STATED_MERGE_COLUMNS = `project, upload_hour, archive_entry, archive_line, loaded_at, amplitude_id, (data->>'merged_amplitude_id')::bigint, event_time, device_id`;
/** The columns of the hour's rows that its tally reads. */
const TALLIED_COLUMNS = 'uuid, event_time, event_type, user_id, device_id, app, amplitude_id, session_id, platform, country';
const SESSION_COLUMNS =
  'project, amplitude_id, session_id, session_start, first_event_uuid, first_event_type, app, device_id, platform, country, session_end, last_event_uuid, last_event_type, user_id, events, complete';

/**
 * The hour's transaction as its rows and rollup changes name it: the `loaded_at` its rows carry, and its
 * id on this server (`pg_current_xact_id()`, taken when the hour began), which users_pending_hours
 * orders its changes by. The id is written by every statement that appends a change, never left to the
 * column's default: on Citus an INSERT whose SELECT reads the distributed events computes a default on
 * the workers, in transactions of their own, and the fold would find no hour for those changes.
 */
export interface HourTransaction {
  readonly loadedAt: string;
  readonly xid: string;
}

/** The changes to the counts and the daily users of the rows of `relation` (columns of events) entering (1) or leaving (-1) events. */
function countChanges(schema: string, relation: string, delta: 1 | -1): string {
  const pending = (name: string) => loaderTable(schema, `${name}_pending`);
  return `changed_counts AS (INSERT INTO ${pending('event_counts')} (project, day, event_type, events)
                             SELECT project, ${DAY}, event_type, ${delta} FROM ${relation}),
          changed_days AS (INSERT INTO ${pending('daily_users')} (project, day, amplitude_id, platform, events, sessionless_events)
                           SELECT project, ${DAY}, amplitude_id, platform, ${delta}, CASE WHEN ${OUTSIDE_SESSION} THEN ${delta} ELSE 0 END
                             FROM ${relation} WHERE amplitude_id IS NOT NULL)`;
}

/**
 * CTEs, for a data-modifying statement, appending to the pending changes the rows of `relation`
 * (columns of events) entering events, as changes of the transaction `xid` (an SQL expression of type
 * xid8); a row that states a merge enters `stated_merges` with it.
 */
export function recordRowsEntering(schema: string, relation: string, xid: string): string {
  const pending = (name: string) => loaderTable(schema, `${name}_pending`);
  return `${countChanges(schema, relation, 1)},
          changed_users AS (INSERT INTO ${pending('users')} (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties, complete, xid)
                            SELECT project, amplitude_id, event_time, event_time, uuid, user_id, user_properties, false, ${xid}
                              FROM ${relation} WHERE amplitude_id IS NOT NULL),
          changed_sessions AS (INSERT INTO ${pending('sessions')} (${SESSION_COLUMNS}, xid)
                               SELECT project, amplitude_id, session_id, event_time, uuid, event_type, app, device_id, platform, country,
                                      event_time, uuid, event_type, user_id, 1, false, ${xid}
                                 FROM ${relation} WHERE ${IN_SESSION}),
          changed_devices AS (INSERT INTO ${pending('device_users')} (project, device_id, amplitude_id, first_seen, first_identified_at, complete, xid)
                              SELECT project, device_id, amplitude_id, event_time, CASE WHEN user_id IS NOT NULL THEN event_time END, false, ${xid}
                                FROM ${relation} WHERE amplitude_id IS NOT NULL),
          changed_statements AS (INSERT INTO ${loaderTable(schema, 'stated_merges')}
                                 SELECT ${STATED_MERGE_COLUMNS} FROM ${relation} WHERE ${STATES_MERGE})`;
}

/**
 * CTEs, for a data-modifying statement, taking back from the pending changes the rows of `relation`
 * (columns of events) leaving events. A user, session or user's device that loses a row is noted in
 * the hour's `users_lost`, `sessions_lost` or `device_users_lost`, for `replaceLostStates`. A row of
 * `statements` (by default the same rows) that states a merge leaves `stated_merges` with it.
 */
export function recordRowsLeaving(schema: string, relation: string, statements: string = relation): string {
  return `${countChanges(schema, relation, -1)},
          changed_users AS (INSERT INTO users_lost SELECT amplitude_id FROM ${relation} WHERE amplitude_id IS NOT NULL),
          changed_sessions AS (INSERT INTO sessions_lost SELECT amplitude_id, session_id FROM ${relation} WHERE ${IN_SESSION}),
          changed_devices AS (INSERT INTO device_users_lost SELECT device_id, amplitude_id FROM ${relation} WHERE amplitude_id IS NOT NULL),
          changed_statements AS (DELETE FROM ${loaderTable(schema, 'stated_merges')} m USING (SELECT * FROM ${statements} WHERE ${STATES_MERGE}) r
                                  WHERE m.project = r.project AND m.upload_hour = r.upload_hour AND m.archive_entry = r.archive_entry
                                    AND m.archive_line = r.archive_line AND m.loaded_at = r.loaded_at)`;
}

/**
 * The hour's rows as pending changes, summed by what each rollup counts, each user's newest row with
 * its user_properties, each session's first and last row with its count, when each user was first
 * seen, and first identified, on each device. Outside any lock, after the COPY: the rows of stage_keys
 * but those held back (settling may move them out of events) and the hour's rows that state a merge
 * (`heldBack` false); under the lock, after settling, the held-back rows that stayed (true). A row
 * held back and moved out is then never counted, and nobody who lost it needs reading again.
 */
export async function recordHourRollups(client: pg.ClientBase, project: RegisteredProject, transaction: HourTransaction, heldBack: boolean): Promise<void> {
  const pending = (name: string) => loaderTable(project.schema, `${name}_pending`);
  // Only the columns the rollups read: the rows are materialized once for four inserts, and read again by the users tally.
  const rows = heldBack
    ? `SELECT ${TALLIED_COLUMNS} FROM held_back`
    : `SELECT ${TALLIED_COLUMNS} FROM stage_keys s WHERE NOT EXISTS (SELECT 1 FROM held_back h WHERE h.archive_entry = s.archive_entry AND h.archive_line = s.archive_line)`;
  // What reads only the hour's temporary tables, in one statement (one round trip, under the lock for
  // the held-back rows), over the rows taken once.
  await client.query(
    `WITH r AS MATERIALIZED (${rows}),
          counts AS (INSERT INTO ${pending('event_counts')} (project, day, event_type, events) SELECT $1, ${DAY}, event_type, count(*) FROM r GROUP BY 2, 3),
          days AS (INSERT INTO ${pending('daily_users')} (project, day, amplitude_id, platform, events, sessionless_events)
                   SELECT $1, ${DAY}, amplitude_id, platform, count(*), count(*) FILTER (WHERE ${OUTSIDE_SESSION})
                     FROM r WHERE amplitude_id IS NOT NULL GROUP BY 2, 3, 4),
          sessions AS (INSERT INTO ${pending('sessions')} (${SESSION_COLUMNS}, xid)
                       SELECT DISTINCT ON (amplitude_id, session_id) $1, amplitude_id, session_id, event_time, uuid, event_type, app, device_id, platform, country,
                              last_value(event_time) OVER w, last_value(uuid) OVER w, last_value(event_type) OVER w, last_value(user_id) OVER w,
                              count(*) OVER w, false, $2::xid8
                         FROM r WHERE ${IN_SESSION}
                       WINDOW w AS (PARTITION BY amplitude_id, session_id ORDER BY event_time, uuid ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
                        ORDER BY amplitude_id, session_id, event_time, uuid)
     INSERT INTO ${pending('device_users')} (project, device_id, amplitude_id, first_seen, first_identified_at, complete, xid)
     SELECT $1, device_id, amplitude_id, min(event_time), min(event_time) FILTER (WHERE user_id IS NOT NULL), false, $2::xid8
       FROM r WHERE amplitude_id IS NOT NULL GROUP BY device_id, amplitude_id`,
    [project.project, transaction.xid],
  );
  // The hour's rows that state a merge, held back or not (a move takes its statement with it), through
  // the partial index of those rows (the partitions just written have no statistics, and a sequential
  // scan of them would look as cheap).
  if (!heldBack) {
    await client.query('SET LOCAL enable_seqscan = off');
    await client.query(
      `INSERT INTO ${loaderTable(project.schema, 'stated_merges')}
       SELECT ${STATED_MERGE_COLUMNS} FROM ${analystTable(project.schema, 'events')} WHERE loaded_at = $2 AND project = $1 AND ${STATES_MERGE}`,
      [project.project, transaction.loadedAt],
    );
    await client.query('RESET enable_seqscan');
  }
  // A uuid the hour repeats is contested, so held back; counted after settling, only its kept copy is
  // left: the row found in events is the row counted. Its own statement: on Citus it reads the
  // distributed events.
  await client.query(
    `INSERT INTO ${pending('users')} (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties, complete, xid)
     SELECT DISTINCT ON (l.amplitude_id) $1, l.amplitude_id, l.first_seen, l.event_time, l.uuid, l.user_id, e.user_properties, false, $3::xid8
       FROM ${rowsFor(
         project.distributed,
         `(SELECT DISTINCT ON (amplitude_id) amplitude_id, uuid, event_time, user_id, min(event_time) OVER w AS first_seen
             FROM (${rows}) r WHERE amplitude_id IS NOT NULL
           WINDOW w AS (PARTITION BY amplitude_id ORDER BY event_time DESC, uuid DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
            ORDER BY amplitude_id, event_time DESC, uuid DESC) l`,
         analystTable(project.schema, 'events'),
         'e',
         'e.uuid = l.uuid AND e.event_time = l.event_time AND e.project = $1 AND e.loaded_at = $2',
       )}
      ORDER BY l.amplitude_id`,
    [project.project, transaction.loadedAt, transaction.xid],
  );
}

/**
 * Under the dedup lock, after the moves: notes the hour's place in the order hours commit (its
 * merge_seq), and gives the users, sessions and users' devices that lost a row their whole state as
 * events now has it (as this hour will commit it), which replaces their folded row and the changes of
 * every hour before: a row taken away cannot come back through a change that counted it. Deletes
 * nothing, so it waits for no fold. A few descents of an index per user or session that lost a row
 * counted before: rows of other hours, or of this one contested only after the probe; under the lock,
 * since it must see the moves. One statement, one round trip under the lock.
 */
export async function replaceLostStates(client: pg.ClientBase, project: RegisteredProject, transaction: HourTransaction, mergeSeq: string): Promise<void> {
  const pending = (name: string) => loaderTable(project.schema, `${name}_pending`);
  const events = analystTable(project.schema, 'events');
  // None found: the user has no event left, said by a complete state without times; likewise a session or device.
  await client.query(
    `WITH this_hour AS (INSERT INTO ${loaderTable(project.schema, 'users_pending_hours')} (xid, project, merge_seq) VALUES ($3::xid8, $1, $2)),
          users_replaced AS MATERIALIZED (SELECT DISTINCT amplitude_id FROM users_lost),
          sessions_replaced AS MATERIALIZED (SELECT DISTINCT amplitude_id, session_id FROM sessions_lost),
          device_users_replaced AS MATERIALIZED (SELECT DISTINCT device_id, amplitude_id FROM device_users_lost),
          users AS (INSERT INTO ${pending('users')} (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties, complete, xid)
                    SELECT $1, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties, true, $3::xid8
                      FROM (${userStatesOf(project.distributed, 'users_replaced', events, '$1')}) s),
          sessions AS (INSERT INTO ${pending('sessions')} (${SESSION_COLUMNS}, xid)
                       SELECT $1, amplitude_id, session_id, session_start, first_event_uuid, first_event_type, app, device_id, platform, country,
                              session_end, last_event_uuid, last_event_type, user_id, events, true, $3::xid8
                         FROM (${sessionStatesOf(project.distributed, 'sessions_replaced', events, loaderTable(project.schema, 'sessions_folded'), pending('sessions'), '$1')}) s)
     INSERT INTO ${pending('device_users')} (project, device_id, amplitude_id, first_seen, first_identified_at, complete, xid)
     SELECT $1, device_id, amplitude_id, first_seen, first_identified_at, true, $3::xid8
       FROM (${deviceUserStatesOf(project.distributed, 'device_users_replaced', events, '$1')}) s`,
    [project.project, mergeSeq, transaction.xid],
  );
}

/**
 * Applies the project's pending changes to its folded rollups and deletes them, in one transaction on
 * a connection of its own. One fold at a time per project: with `wait` false a fold that finds another
 * under way leaves the changes to it (or to the next one) and returns false at once; with `wait` true
 * it waits for it, at most the session's lock_timeout. Its work is the pending changes; it reads no
 * events.
 */
export async function foldRollups(pool: pg.Pool, project: RegisteredProject, wait: boolean): Promise<boolean> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    await client.query('BEGIN');
    const key = `hashtextextended('amplitude-pg fold ' || $1 || ' ' || $2, 0)`;
    if (wait) {
      await client.query(`SELECT pg_advisory_xact_lock(${key})`, [project.schema, project.project]);
    } else {
      const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(${key}) AS locked`, [project.schema, project.project]);
      if (!rows[0]?.locked) {
        await client.query('ROLLBACK');
        return false;
      }
    }
    // The fold groups every change pending since the last one (several hours' under load): in memory,
    // not spilled to temporary files at the default 4 MB. One fold at a time per project.
    await client.query(`SET LOCAL work_mem = '64MB'`);
    await applyPending(client, project);
    await client.query('COMMIT');
    return true;
  } catch (error) {
    failure = error;
    await client.query('ROLLBACK').catch(() => {});
    throw classifyDatabaseError(error, { doing: `folding the rollups of project ${project.project}` });
  } finally {
    client.release(failure instanceof Error ? failure : undefined);
  }
}

// The tables the hours append to and the folds delete from.
const PENDING_TABLES = ['event_counts_pending', 'daily_users_pending', 'users_pending', 'users_pending_hours', 'sessions_pending', 'device_users_pending'];

/**
 * Vacuums the pending tables once a fold has emptied them, and with `analyze` analyzes them. Every fold
 * deletes what it applied; until a vacuum comes round, the next fold's taking reads those dead rows
 * again, and the planner takes the tables for large and reads the analysts' views of folded + pending
 * (sessions, users) by sorting and merging instead of one index probe per row. A table another vacuum
 * holds is passed over.
 */
export async function vacuumPending(pool: pg.Pool, schema: string, analyze: boolean): Promise<void> {
  const options = analyze ? 'ANALYZE, SKIP_LOCKED' : 'SKIP_LOCKED';
  await pool.query(`VACUUM (${options}) ${PENDING_TABLES.map((name) => loaderTable(schema, name)).join(', ')}`);
}

async function applyPending(client: pg.ClientBase, project: RegisteredProject): Promise<void> {
  const folded = (name: string) => loaderTable(project.schema, `${name}_folded`);
  const pending = (name: string) => loaderTable(project.schema, `${name}_pending`);
  const textKey = loaderTable(project.schema, 'text_key');
  const run = (text: string) => client.query(text, [project.project]);

  // What is pending now (committed hours'), taken: rows appended from here on wait for the next fold.
  await run(
    `CREATE TEMP TABLE fold_counts ON COMMIT DROP AS
     WITH taken AS (DELETE FROM ${pending('event_counts')} WHERE project = $1 RETURNING day, event_type, events)
     SELECT day, ${textKey}(event_type) AS event_type_key, min(event_type) AS event_type, sum(events) AS n FROM taken GROUP BY 1, 2`,
  );
  await run(
    `CREATE TEMP TABLE fold_days ON COMMIT DROP AS
     WITH taken AS (DELETE FROM ${pending('daily_users')} WHERE project = $1 RETURNING day, amplitude_id, platform, events, sessionless_events)
     SELECT day, amplitude_id, ${textKey}(platform) AS platform_key, min(platform) AS platform, sum(events) AS n, sum(sessionless_events) AS sessionless
       FROM taken GROUP BY 1, 2, 3`,
  );
  // The changes of users, sessions and users' devices with their hours' order, taken in one statement
  // (one snapshot): a committed hour's rows and its place in the order go together, and hours that
  // changed none go too.
  await client.query(`CREATE TEMP TABLE fold_sessions ON COMMIT DROP AS SELECT *, 0::bigint AS merge_seq FROM ${pending('sessions')} WITH NO DATA`);
  await client.query(
    `CREATE TEMP TABLE fold_devices ON COMMIT DROP AS SELECT *, ${textKey}(device_id) AS device_key, 0::bigint AS merge_seq FROM ${pending('device_users')} WITH NO DATA`,
  );
  await run(
    `CREATE TEMP TABLE fold_users ON COMMIT DROP AS
     WITH taken AS (DELETE FROM ${pending('users')} WHERE project = $1 RETURNING *),
          taken_sessions AS (DELETE FROM ${pending('sessions')} WHERE project = $1 RETURNING *),
          hours AS (DELETE FROM ${loaderTable(project.schema, 'users_pending_hours')} WHERE project = $1 RETURNING xid, merge_seq),
          sessions AS (INSERT INTO fold_sessions SELECT t.*, h.merge_seq FROM taken_sessions t JOIN hours h USING (xid)),
          taken_devices AS (DELETE FROM ${pending('device_users')} WHERE project = $1 RETURNING *),
          devices AS (INSERT INTO fold_devices SELECT t.*, ${textKey}(t.device_id), h.merge_seq FROM taken_devices t JOIN hours h USING (xid))
     SELECT t.*, h.merge_seq FROM taken t JOIN hours h USING (xid)`,
  );
  // A complete state replaces the changes of the hours before it (and of its own hour).
  await client.query(
    `DELETE FROM fold_users f
      USING (SELECT amplitude_id, max(merge_seq) FILTER (WHERE complete) AS since FROM fold_users GROUP BY amplitude_id) s
      WHERE f.amplitude_id = s.amplitude_id AND f.merge_seq <= s.since AND NOT (f.complete AND f.merge_seq = s.since)`,
  );
  await client.query(
    `DELETE FROM fold_sessions f
      USING (SELECT amplitude_id, session_id, max(merge_seq) FILTER (WHERE complete) AS since FROM fold_sessions GROUP BY 1, 2) s
      WHERE f.amplitude_id = s.amplitude_id AND f.session_id = s.session_id AND f.merge_seq <= s.since AND NOT (f.complete AND f.merge_seq = s.since)`,
  );
  await client.query(
    `DELETE FROM fold_devices f
      USING (SELECT device_key, amplitude_id, max(merge_seq) FILTER (WHERE complete) AS since FROM fold_devices GROUP BY 1, 2) s
      WHERE f.device_key = s.device_key AND f.amplitude_id = s.amplitude_id AND f.merge_seq <= s.since AND NOT (f.complete AND f.merge_seq = s.since)`,
  );

  // The upserts into tables that grow with the history (counts, daily users, users, sessions, users'
  // devices) go through their unique index in its order: a folded table larger than shared_buffers is
  // then read a page at a time, not a page for each changed row.
  // Rows the changes bring to zero are deleted by their keys, as the upserts return them: a join of the
  // changes with the folded table would read all of the project's rows of those days, which grow with
  // the history. Usually there are none.
  const emptied = (upsert: pg.QueryResult) => (upsert.rows[0]?.emptied ?? 0) > 0;
  // A nested loop through the unique key: the planner knows nothing of this transaction's tables.
  const byKeys = async (statement: string) => {
    await client.query('SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off');
    await run(statement);
    await client.query('RESET enable_hashjoin; RESET enable_mergejoin');
  };
  await client.query(`CREATE TEMP TABLE emptied_counts (day date, event_type_key bytea) ON COMMIT DROP`);
  const counts = await run(
    `WITH upserted AS (
       INSERT INTO ${folded('event_counts')} AS c (project, day, event_type, events)
       SELECT $1, day, event_type, n FROM fold_counts WHERE n <> 0 ORDER BY day, event_type_key
       ON CONFLICT (project, day, event_type_key) DO UPDATE SET events = c.events + excluded.events
       RETURNING c.day, c.event_type_key, c.events = 0 AS emptied),
     noted AS (INSERT INTO emptied_counts SELECT day, event_type_key FROM upserted WHERE emptied RETURNING 1)
     SELECT count(*)::int AS emptied FROM noted`,
  );
  if (emptied(counts)) {
    await byKeys(
      `DELETE FROM ${folded('event_counts')} c USING emptied_counts e
        WHERE c.project = $1 AND c.day = e.day AND c.event_type_key = e.event_type_key AND c.events = 0`,
    );
  }

  // A user's (day, platform) rows that appear or disappear change the DAU tables; they are noted here.
  await client.query(`CREATE TEMP TABLE daily_user_changes (day date, amplitude_id bigint, platform_key bytea, platform text, delta integer) ON COMMIT DROP`);
  const days = await run(
    `WITH upserted AS (
       INSERT INTO ${folded('daily_users')} AS u (project, day, amplitude_id, platform, events, sessionless_events)
       SELECT $1, day, amplitude_id, platform, n, sessionless FROM fold_days WHERE n <> 0 OR sessionless <> 0
        ORDER BY day, amplitude_id, platform_key
       ON CONFLICT (project, day, amplitude_id, platform_key) DO UPDATE
         SET events = u.events + excluded.events, sessionless_events = u.sessionless_events + excluded.sessionless_events
       RETURNING u.day, u.amplitude_id, u.platform_key, u.platform, xmax = 0 AS created, u.events = 0 AS emptied),
     noted AS (INSERT INTO daily_user_changes SELECT day, amplitude_id, platform_key, platform, CASE WHEN created THEN 1 ELSE -1 END
                 FROM upserted WHERE created OR emptied RETURNING delta)
     SELECT count(*) FILTER (WHERE delta < 0)::int AS emptied FROM noted`,
  );
  if (emptied(days)) {
    await byKeys(
      `DELETE FROM ${folded('daily_users')} u USING daily_user_changes c
        WHERE c.delta < 0 AND u.project = $1 AND u.day = c.day AND u.amplitude_id = c.amplitude_id AND u.platform_key = c.platform_key AND u.events = 0`,
    );
  }
  await run(
    `INSERT INTO ${folded('daily_active_users_by_platform')} AS a (project, day, platform, active_users)
     SELECT $1, day, min(platform), sum(delta) FROM daily_user_changes GROUP BY day, platform_key HAVING sum(delta) <> 0
     ON CONFLICT (project, day, platform_key) DO UPDATE SET active_users = a.active_users + excluded.active_users`,
  );
  // Over all platforms, a user counts once: active after if any platform row is left, before if any was.
  await run(
    `WITH per_user AS (
       SELECT c.day, c.amplitude_id, sum(c.delta) AS change,
              (SELECT count(*) FROM ${folded('daily_users')} u WHERE u.project = $1 AND u.day = c.day AND u.amplitude_id = c.amplitude_id) AS platforms_after
         FROM daily_user_changes c GROUP BY c.day, c.amplitude_id),
     per_day AS (
       SELECT day, sum((platforms_after > 0)::int - (platforms_after - change > 0)::int) AS change FROM per_user GROUP BY day)
     INSERT INTO ${folded('daily_active_users')} AS a (project, day, active_users)
     SELECT $1, day, change FROM per_day WHERE change <> 0
     ON CONFLICT (project, day) DO UPDATE SET active_users = a.active_users + excluded.active_users`,
  );
  await run(`DELETE FROM ${folded('daily_active_users_by_platform')} WHERE project = $1 AND active_users = 0 AND day IN (SELECT day FROM daily_user_changes)`);
  await run(`DELETE FROM ${folded('daily_active_users')} WHERE project = $1 AND active_users = 0 AND day IN (SELECT day FROM daily_user_changes)`);

  // A complete state replaces the folded row; the other changes only add (first_seen earlier, a later
  // last event), merged into it.
  await run(`DELETE FROM ${folded('users')} u USING (SELECT DISTINCT amplitude_id FROM fold_users WHERE complete) c WHERE u.project = $1 AND u.amplitude_id = c.amplitude_id`);
  await run(
    `WITH gained AS (
       SELECT DISTINCT ON (amplitude_id) amplitude_id, last_event_uuid, last_seen, user_id, user_properties,
              min(first_seen) OVER (PARTITION BY amplitude_id) AS first_seen
         FROM fold_users WHERE last_seen IS NOT NULL
        ORDER BY amplitude_id, last_seen DESC, last_event_uuid DESC)
     INSERT INTO ${folded('users')} AS u (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties)
     SELECT $1, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties FROM gained
     ON CONFLICT (project, amplitude_id) DO UPDATE SET
       first_seen = least(u.first_seen, excluded.first_seen),
       last_seen = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.last_seen ELSE u.last_seen END,
       last_event_uuid = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.last_event_uuid ELSE u.last_event_uuid END,
       user_id = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.user_id ELSE u.user_id END,
       user_properties = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.user_properties ELSE u.user_properties END
     -- Older events (a backfill) leave most users as they are: no new row version for them.
     WHERE excluded.first_seen < u.first_seen OR (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid)`,
  );

  // Sessions the same way: the earliest first event, the latest last event, the events summed. The days
  // the changed sessions start on, before and after, change daily_sessions: noted on both sides of the
  // change, each session found by its key.
  const sessionDays = (sign: string) =>
    `SELECT (s.session_start AT TIME ZONE 'UTC')::date, ${sign}1, ${sign}extract(epoch FROM s.session_end - s.session_start)
       FROM (SELECT DISTINCT amplitude_id, session_id FROM fold_sessions) t,
            LATERAL (SELECT * FROM ${folded('sessions')} s WHERE s.project = $1 AND s.amplitude_id = t.amplitude_id AND s.session_id = t.session_id OFFSET 0) s`;
  await client.query(`CREATE TEMP TABLE session_day_changes (day date, sessions integer, seconds numeric) ON COMMIT DROP`);
  await run(`INSERT INTO session_day_changes ${sessionDays('-')}`);
  await run(`DELETE FROM ${folded('sessions')} s USING (SELECT DISTINCT amplitude_id, session_id FROM fold_sessions WHERE complete) c
              WHERE s.project = $1 AND s.amplitude_id = c.amplitude_id AND s.session_id = c.session_id`);
  const earlier = '(excluded.session_start, excluded.first_event_uuid) < (s.session_start, s.first_event_uuid)';
  const later = '(excluded.session_end, excluded.last_event_uuid) > (s.session_end, s.last_event_uuid)';
  const pick = (condition: string, column: string) => `${column} = CASE WHEN ${condition} THEN excluded.${column} ELSE s.${column} END`;
  const FIRST = ['session_start', 'first_event_uuid', 'first_event_type', 'app', 'device_id', 'platform', 'country'];
  const LAST = ['session_end', 'last_event_uuid', 'last_event_type', 'user_id'];
  // Two sorts of the taken rows, whatever the number of columns carried.
  await run(
    `WITH firsts AS (
       SELECT DISTINCT ON (amplitude_id, session_id) amplitude_id, session_id, ${FIRST.join(', ')}
         FROM fold_sessions WHERE session_start IS NOT NULL ORDER BY amplitude_id, session_id, session_start, first_event_uuid),
     lasts AS (
       SELECT DISTINCT ON (amplitude_id, session_id) amplitude_id, session_id, ${LAST.join(', ')},
              sum(events) OVER (PARTITION BY amplitude_id, session_id) AS events
         FROM fold_sessions WHERE session_start IS NOT NULL ORDER BY amplitude_id, session_id, session_end DESC, last_event_uuid DESC)
     INSERT INTO ${folded('sessions')} AS s (project, amplitude_id, session_id, ${[...FIRST, ...LAST].join(', ')}, events)
     SELECT $1, amplitude_id, session_id, ${[...FIRST, ...LAST].join(', ')}, events FROM firsts JOIN lasts USING (amplitude_id, session_id)
      ORDER BY amplitude_id, session_id
     ON CONFLICT (project, amplitude_id, session_id) DO UPDATE SET
       ${[...FIRST.map((c) => pick(earlier, c)), ...LAST.map((c) => pick(later, c))].join(',\n       ')},
       events = s.events + excluded.events`,
  );
  await run(`INSERT INTO session_day_changes ${sessionDays('')}`);
  await run(
    `INSERT INTO ${folded('daily_sessions')} AS d (project, day, sessions, total_seconds)
     SELECT $1, day, sum(sessions), sum(seconds) FROM session_day_changes GROUP BY day HAVING sum(sessions) <> 0 OR sum(seconds) <> 0
     ON CONFLICT (project, day) DO UPDATE SET sessions = d.sessions + excluded.sessions, total_seconds = d.total_seconds + excluded.total_seconds`,
  );
  await run(`DELETE FROM ${folded('daily_sessions')} WHERE project = $1 AND sessions = 0 AND day IN (SELECT day FROM session_day_changes)`);

  // Users' devices: the earliest first_seen and first_identified_at (least() passes over NULLs).
  await run(`DELETE FROM ${folded('device_users')} d USING (SELECT DISTINCT device_key, amplitude_id FROM fold_devices WHERE complete) c
              WHERE d.project = $1 AND d.device_key = c.device_key AND d.amplitude_id = c.amplitude_id`);
  await run(
    `INSERT INTO ${folded('device_users')} AS d (project, device_id, amplitude_id, first_seen, first_identified_at)
     SELECT $1, min(device_id), amplitude_id, min(first_seen), min(first_identified_at) FROM fold_devices WHERE first_seen IS NOT NULL
      GROUP BY device_key, amplitude_id ORDER BY device_key, amplitude_id
     ON CONFLICT (project, device_key, amplitude_id) DO UPDATE SET
       first_seen = least(d.first_seen, excluded.first_seen), first_identified_at = least(d.first_identified_at, excluded.first_identified_at)
     WHERE excluded.first_seen < d.first_seen OR excluded.first_identified_at < d.first_identified_at
        OR (d.first_identified_at IS NULL AND excluded.first_identified_at IS NOT NULL)`,
  );
}
