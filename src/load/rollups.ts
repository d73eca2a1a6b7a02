import type pg from 'pg';
import { analystTable, loaderTable } from '../db/loader-schema.js';
import type { RegisteredProject } from '../state/projects.js';
import { rowsFor } from './lookups.js';

/**
 * The rollups (event_counts, daily_users, daily_active_users[_by_platform], users), kept in each
 * hour's transaction from what the hour changed in `events`: every row the COPY wrote counts +1 (summed
 * by `tallyHour` before the dedup lock), and every row deduplication or a reload moves out of events
 * (-1) or back in (+1) is recorded as it moves (`recordRollupChanges` in the same statement). Applied
 * under the project's dedup lock, so the hours of one project apply theirs one at a time and the
 * rollups always equal a recomputation from events. The work is the hour's own rows; only a user who
 * lost a row is recomputed from events.
 */

/** The temporary table of the hour's changes to events, one row per row that entered or left. */
const ROLLUP_CHANGES = 'rollup_changes';
const ROLLUP_CHANGE_COLUMNS = 'uuid uuid, event_time timestamptz, event_type text, platform text, amplitude_id bigint, delta integer';
/** What a change records of a row, as columns of events, duplicates or stage_keys. */
const ROLLUP_CHANGE_SOURCE = 'uuid, event_time, event_type, platform, amplitude_id';

/** An INSERT, for a data-modifying CTE, recording the rows of `relation` as entering (1) or leaving (-1) events. */
export function recordRollupChanges(relation: string, delta: 1 | -1): string {
  return `INSERT INTO ${ROLLUP_CHANGES} SELECT ${ROLLUP_CHANGE_SOURCE}, ${delta} FROM ${relation}`;
}

const DAY = `(event_time AT TIME ZONE 'UTC')::date`;

/**
 * Outside any lock, after the COPY: the sums of the hour's own rows (`stage_keys`) by what each rollup
 * counts, and each user's latest row with its user_properties. Only the moves are left for the lock.
 */
export async function tallyHour(client: pg.ClientBase, project: RegisteredProject, loadedAt: string): Promise<void> {
  const events = analystTable(project.schema, 'events');
  await client.query(`CREATE TEMP TABLE ${ROLLUP_CHANGES} (${ROLLUP_CHANGE_COLUMNS}) ON COMMIT DROP`);
  await client.query(
    `CREATE TEMP TABLE tally_counts ON COMMIT DROP AS SELECT ${DAY} AS day, event_type, count(*) AS n FROM stage_keys GROUP BY 1, 2`,
  );
  await client.query(
    `CREATE TEMP TABLE tally_daily_users ON COMMIT DROP AS
       SELECT ${DAY} AS day, amplitude_id, platform, count(*) AS n FROM stage_keys WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3`,
  );
  // A uuid repeated within the hour gives two rows of one time; either's properties will do: if the
  // two differ, deduplication moves one away and the user is recomputed.
  await client.query(
    `CREATE TEMP TABLE tally_latest ON COMMIT DROP AS
       SELECT DISTINCT ON (l.amplitude_id) l.*, e.user_properties
         FROM ${rowsFor(
           project.distributed,
           `(SELECT DISTINCT ON (amplitude_id) amplitude_id, uuid, event_time, user_id, min(event_time) OVER (PARTITION BY amplitude_id) AS first_seen
               FROM stage_keys WHERE amplitude_id IS NOT NULL ORDER BY amplitude_id, event_time DESC, uuid DESC) l`,
           events,
           'e',
           'e.uuid = l.uuid AND e.event_time = l.event_time AND e.project = $1 AND e.loaded_at = $2',
         )}
        ORDER BY l.amplitude_id`,
    [project.project, loadedAt],
  );
}

/** Applies the hour's tallies and recorded moves to every rollup of its project; under the dedup lock. */
export async function applyRollups(client: pg.ClientBase, project: RegisteredProject): Promise<void> {
  const table = (name: string) => analystTable(project.schema, name);
  const run = (text: string) => client.query(text, [project.project]);
  // Text in a rollup's key is unique by its SHA-256 (a btree entry cannot hold a long event type).
  const key = (column: string) => `${loaderTable(project.schema, 'text_key')}(${column})`;

  await run(
    `INSERT INTO ${table('event_counts')} AS c (project, day, event_type, events)
     SELECT $1, day, event_type, sum(n)
       FROM (SELECT day, event_type, n FROM tally_counts UNION ALL SELECT ${DAY}, event_type, delta FROM ${ROLLUP_CHANGES}) d
      GROUP BY 2, 3 HAVING sum(n) <> 0
     ON CONFLICT (project, day, ${key('event_type')}) DO UPDATE SET events = c.events + excluded.events`,
  );
  await run(
    `DELETE FROM ${table('event_counts')} c USING (SELECT DISTINCT ${DAY} AS day, event_type FROM ${ROLLUP_CHANGES} WHERE delta < 0) d
      WHERE c.project = $1 AND c.day = d.day AND c.event_type IS NOT DISTINCT FROM d.event_type AND c.events = 0`,
  );

  // A user's (day, platform) rows that appear or disappear change the DAU tables; they are noted here.
  await client.query(`CREATE TEMP TABLE daily_user_changes (day date, amplitude_id bigint, platform text, delta integer) ON COMMIT DROP`);
  await run(
    `WITH upserted AS (
       INSERT INTO ${table('daily_users')} AS u (project, day, amplitude_id, platform, events)
       SELECT $1, day, amplitude_id, platform, sum(n)
         FROM (SELECT day, amplitude_id, platform, n FROM tally_daily_users
               UNION ALL SELECT ${DAY}, amplitude_id, platform, delta FROM ${ROLLUP_CHANGES} WHERE amplitude_id IS NOT NULL) d
        GROUP BY 2, 3, 4 HAVING sum(n) <> 0
       ON CONFLICT (project, day, amplitude_id, ${key('platform')}) DO UPDATE SET events = u.events + excluded.events
       RETURNING u.day, u.amplitude_id, u.platform, xmax = 0 AS created)
     INSERT INTO daily_user_changes SELECT day, amplitude_id, platform, 1 FROM upserted WHERE created`,
  );
  await run(
    `WITH gone AS (DELETE FROM ${table('daily_users')} u WHERE u.project = $1 AND u.events = 0
                     AND (u.day, u.amplitude_id) IN (SELECT ${DAY}, amplitude_id FROM ${ROLLUP_CHANGES} WHERE delta < 0)
                   RETURNING u.day, u.amplitude_id, u.platform)
     INSERT INTO daily_user_changes SELECT day, amplitude_id, platform, -1 FROM gone`,
  );
  await run(
    `INSERT INTO ${table('daily_active_users_by_platform')} AS a (project, day, platform, active_users)
     SELECT $1, day, platform, sum(delta) FROM daily_user_changes GROUP BY 2, 3 HAVING sum(delta) <> 0
     ON CONFLICT (project, day, ${key('platform')}) DO UPDATE SET active_users = a.active_users + excluded.active_users`,
  );
  // Over all platforms, a user counts once: active after if any platform row is left, before if any was.
  await run(
    `WITH per_user AS (
       SELECT c.day, c.amplitude_id, sum(c.delta) AS change,
              (SELECT count(*) FROM ${table('daily_users')} u WHERE u.project = $1 AND u.day = c.day AND u.amplitude_id = c.amplitude_id) AS platforms_after
         FROM daily_user_changes c GROUP BY c.day, c.amplitude_id),
     per_day AS (
       SELECT day, sum((platforms_after > 0)::int - (platforms_after - change > 0)::int) AS change FROM per_user GROUP BY day)
     INSERT INTO ${table('daily_active_users')} AS a (project, day, active_users)
     SELECT $1, day, change FROM per_day WHERE change <> 0
     ON CONFLICT (project, day) DO UPDATE SET active_users = a.active_users + excluded.active_users`,
  );
  await run(`DELETE FROM ${table('daily_active_users_by_platform')} WHERE project = $1 AND active_users = 0 AND day IN (SELECT day FROM daily_user_changes)`);
  await run(`DELETE FROM ${table('daily_active_users')} WHERE project = $1 AND active_users = 0 AND day IN (SELECT day FROM daily_user_changes)`);

  // Users who lost a row are recomputed from events (through its amplitude_id index); the others only
  // gained rows, which can move first_seen earlier or bring a later last event.
  await client.query(
    `CREATE TEMP TABLE users_recomputed ON COMMIT DROP AS
       SELECT DISTINCT amplitude_id FROM ${ROLLUP_CHANGES} WHERE delta < 0 AND amplitude_id IS NOT NULL`,
  );
  await run(`DELETE FROM ${table('users')} u USING users_recomputed r WHERE u.project = $1 AND u.amplitude_id = r.amplitude_id`);
  // One server: two descents of the user's index each. Citus cannot run those LATERAL subqueries into
  // the distributed events: the users' rows come back by a join and are reduced here.
  await run(
    project.distributed
      ? `INSERT INTO ${table('users')} (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties)
         SELECT DISTINCT ON (e.amplitude_id) $1, e.amplitude_id, min(e.event_time) OVER (PARTITION BY e.amplitude_id), e.event_time, e.uuid, e.user_id, e.user_properties
           FROM users_recomputed r JOIN ${table('events')} e ON e.amplitude_id = r.amplitude_id AND e.project = $1
          ORDER BY e.amplitude_id, e.event_time DESC, e.uuid DESC`
      : `INSERT INTO ${table('users')} (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties)
         SELECT $1, r.amplitude_id, f.first_seen, e.event_time, e.uuid, e.user_id, e.user_properties
           FROM users_recomputed r,
                LATERAL (SELECT min(event_time) AS first_seen FROM ${table('events')} WHERE amplitude_id = r.amplitude_id AND project = $1) f,
                LATERAL (SELECT * FROM ${table('events')} WHERE amplitude_id = r.amplitude_id AND project = $1
                          ORDER BY event_time DESC, uuid DESC LIMIT 1) e`,
  );
  // The latest row per user among those the hour added (the tally's, and rows moved back into events).
  await run(
    `WITH restored AS (
       SELECT DISTINCT ON (c.amplitude_id) c.amplitude_id, c.uuid, c.event_time, e.user_id,
              min(c.event_time) OVER (PARTITION BY c.amplitude_id) AS first_seen, e.user_properties
         FROM ${rowsFor(project.distributed, `${ROLLUP_CHANGES} c`, table('events'), 'e', 'e.uuid = c.uuid AND e.event_time = c.event_time AND e.project = $1')}
        WHERE c.delta > 0 AND c.amplitude_id IS NOT NULL
        ORDER BY c.amplitude_id, c.event_time DESC, c.uuid DESC),
     gained AS (
       SELECT DISTINCT ON (amplitude_id) amplitude_id, uuid, event_time, user_id, user_properties,
              min(first_seen) OVER (PARTITION BY amplitude_id) AS first_seen
         FROM (SELECT amplitude_id, uuid, event_time, user_id, first_seen, user_properties FROM tally_latest
               UNION ALL SELECT amplitude_id, uuid, event_time, user_id, first_seen, user_properties FROM restored) g
        WHERE NOT EXISTS (SELECT 1 FROM users_recomputed r WHERE r.amplitude_id = g.amplitude_id)
        ORDER BY amplitude_id, event_time DESC, uuid DESC)
     INSERT INTO ${table('users')} AS u (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties)
     SELECT $1, amplitude_id, first_seen, event_time, uuid, user_id, user_properties FROM gained
     ON CONFLICT (project, amplitude_id) DO UPDATE SET
       first_seen = least(u.first_seen, excluded.first_seen),
       last_seen = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.last_seen ELSE u.last_seen END,
       last_event_uuid = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.last_event_uuid ELSE u.last_event_uuid END,
       user_id = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.user_id ELSE u.user_id END,
       user_properties = CASE WHEN (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid) THEN excluded.user_properties ELSE u.user_properties END
     -- An hour of older events (a backfill) leaves most users as they are: no new row version for them.
     WHERE excluded.first_seen < u.first_seen OR (excluded.last_seen, excluded.last_event_uuid) > (u.last_seen, u.last_event_uuid)`,
  );
}
