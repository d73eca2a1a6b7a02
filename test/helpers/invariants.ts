import assert from 'node:assert/strict';
import type pg from 'pg';

/** Runs the checks on one snapshot: a loader may still be committing while they run. */
async function onOneSnapshot(pool: pg.Pool, check: (client: pg.ClientBase) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await check(client);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}

/**
 * No hour is half-loaded: every hour with rows is recorded as loaded, with as many rows and dropped
 * copies as it read events (less its rejects), and dedup's state agrees with the rows.
 */
export async function assertNoHalfLoadedHours(pool: pg.Pool, schema: string): Promise<void> {
  await onOneSnapshot(pool, async (client) => {
    await assertHoursWhole(client, schema);
    await checkDedupState(client, schema);
    await checkRollups(client, schema);
  });
}

/**
 * Dedup's own state agrees with the rows: one row per uuid in events, and one key per uuid that has
 * any copy, at its representative (the kept row, or a copy the insert_id rule dropped). The rollups
 * equal their recomputation from events.
 */
export async function assertDedupState(pool: pg.Pool, schema: string): Promise<void> {
  await onOneSnapshot(pool, async (client) => {
    await checkDedupState(client, schema);
    await checkRollups(client, schema);
  });
}

/** Each rollup row by row against what it says it is, computed from events (both ways: no row missing, none extra). */
export async function assertRollups(pool: pg.Pool, schema: string): Promise<void> {
  await onOneSnapshot(pool, (client) => checkRollups(client, schema));
}

async function checkRollups(pool: pg.ClientBase, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const day = `(event_time AT TIME ZONE 'UTC')::date`;
  const MERGES = `WITH seen AS (SELECT project, device_id, amplitude_id, min(event_time) AS first_seen,
                                    min(event_time) FILTER (WHERE user_id IS NOT NULL) AS first_identified_at
                               FROM ${s}.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3),
                     anonymous AS (SELECT project, amplitude_id FROM seen GROUP BY 1, 2 HAVING count(first_identified_at) = 0),
                     explicit AS (SELECT project, amplitude_id, (data->>'merged_amplitude_id')::bigint AS merged, event_time AS at, device_id, 0 AS precedence
                                    FROM ${s}.events WHERE amplitude_id IS NOT NULL AND data->>'merged_amplitude_id' ~ '^[0-9]{1,18}$'),
                     inferred AS (SELECT a.project, k.amplitude_id, a.amplitude_id AS merged, k.first_identified_at AS at, a.device_id, 1 AS precedence
                                    FROM seen a JOIN anonymous USING (project, amplitude_id)
                                    JOIN seen k ON k.project = a.project AND k.device_id = a.device_id AND k.first_identified_at >= a.first_seen),
                     merges AS (SELECT DISTINCT ON (project, merged) project, amplitude_id, merged, at, device_id,
                                       CASE precedence WHEN 0 THEN 'data.merged_amplitude_id' ELSE 'device' END AS evidence
                                  FROM (SELECT * FROM explicit UNION ALL SELECT * FROM inferred) m WHERE merged <> amplitude_id
                                 ORDER BY project, merged, precedence, at, amplitude_id)`;
  const recomputed: Record<string, [string, string]> = {
    event_counts: [`SELECT project, day, event_type, events FROM ${s}.event_counts`, `SELECT project, ${day}, event_type, count(*) FROM ${s}.events GROUP BY 1, 2, 3`],
    daily_users: [
      `SELECT project, day, amplitude_id, platform, events, sessionless_events FROM ${s}.daily_users`,
      `SELECT project, ${day}, amplitude_id, platform, count(*), count(*) FILTER (WHERE session_id IS NULL OR session_id = -1)
         FROM ${s}.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3, 4`,
    ],
    daily_active_users: [
      `SELECT project, day, active_users FROM ${s}.daily_active_users`,
      `SELECT project, ${day}, count(DISTINCT amplitude_id) FROM ${s}.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2`,
    ],
    daily_active_users_by_platform: [
      `SELECT project, day, platform, active_users FROM ${s}.daily_active_users_by_platform`,
      `SELECT project, ${day}, platform, count(DISTINCT amplitude_id) FROM ${s}.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3`,
    ],
    users: [
      `SELECT project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties FROM ${s}.users`,
      `SELECT DISTINCT ON (project, amplitude_id) project, amplitude_id, min(event_time) OVER (PARTITION BY project, amplitude_id),
              event_time, uuid, user_id, user_properties
         FROM ${s}.events WHERE amplitude_id IS NOT NULL ORDER BY project, amplitude_id, event_time DESC, uuid DESC`,
    ],
    // A session: a user's events sharing a session_id other than -1; its first and last by time, then uuid.
    sessions: [
      `SELECT project, amplitude_id, session_id, app, device_id, user_id, platform, country, session_start, session_end, duration, event_count,
              first_event_type, last_event_type, session_number
         FROM ${s}.sessions`,
      `SELECT f.project, f.amplitude_id, f.session_id, f.app, f.device_id, l.user_id, f.platform, f.country, f.event_time, l.event_time,
              l.event_time - f.event_time, l.n, f.event_type, l.event_type,
              row_number() OVER (PARTITION BY f.project, f.amplitude_id ORDER BY f.event_time, f.session_id)
         FROM (SELECT DISTINCT ON (project, amplitude_id, session_id) * FROM ${s}.events WHERE amplitude_id IS NOT NULL AND session_id <> -1
                ORDER BY project, amplitude_id, session_id, event_time, uuid) f
         JOIN (SELECT DISTINCT ON (project, amplitude_id, session_id) *, count(*) OVER (PARTITION BY project, amplitude_id, session_id) AS n
                 FROM ${s}.events WHERE amplitude_id IS NOT NULL AND session_id <> -1
                ORDER BY project, amplitude_id, session_id, event_time DESC, uuid DESC) l USING (project, amplitude_id, session_id)`,
    ],
    // Merges, by the rule README states, from events: an id with no user_id on any event, merged into
    // the id of the first identified event on a device where it was seen before.
    device_users: [
      `SELECT project, device_id, amplitude_id, first_seen, first_identified_at FROM "${schema}_loader".device_users`,
      `SELECT project, device_id, amplitude_id, min(event_time), min(event_time) FILTER (WHERE user_id IS NOT NULL)
         FROM ${s}.events WHERE amplitude_id IS NOT NULL GROUP BY 1, 2, 3`,
    ],
    stated_merges: [
      `SELECT project, upload_hour, archive_entry, archive_line, loaded_at, amplitude_id, merged_amplitude_id, event_time, device_id
         FROM "${schema}_loader".stated_merges`,
      `SELECT project, upload_hour, archive_entry, archive_line, loaded_at, amplitude_id, (data->>'merged_amplitude_id')::bigint, event_time, device_id
         FROM ${s}.events WHERE amplitude_id IS NOT NULL AND data->>'merged_amplitude_id' ~ '^[0-9]{1,18}$'`,
    ],
    merged_ids: [
      `SELECT project, amplitude_id, merged_amplitude_id, merge_event_time, device_id, evidence FROM ${s}.merged_ids`,
      `${MERGES} SELECT project, amplitude_id, merged, at, device_id, evidence FROM merges`,
    ],
    people: [
      `SELECT project, amplitude_id, person_id FROM ${s}.users`,
      `${MERGES} SELECT u.project, u.amplitude_id, coalesce(m.amplitude_id, u.amplitude_id)
         FROM (SELECT DISTINCT project, amplitude_id FROM ${s}.events WHERE amplitude_id IS NOT NULL) u
         LEFT JOIN merges m ON m.project = u.project AND m.merged = u.amplitude_id`,
    ],
    daily_active_people: [
      `SELECT project, day, active_people FROM ${s}.daily_active_people`,
      `${MERGES} SELECT e.project, ${day}, count(DISTINCT coalesce(m.amplitude_id, e.amplitude_id))
         FROM ${s}.events e LEFT JOIN merges m ON m.project = e.project AND m.merged = e.amplitude_id
        WHERE e.amplitude_id IS NOT NULL GROUP BY 1, 2`,
    ],
    daily_metrics: [
      `SELECT project, day, events, active_users, new_users, sessions, average_session_length, sessionless_events, active_people FROM ${s}.daily_metrics`,
      `${MERGES} SELECT d.project, d.day, d.events, d.active_users, coalesce(f.n, 0), coalesce(x.n, 0), x.average, d.sessionless, d.active_people
         FROM (SELECT e.project, ${day} AS day, count(*) AS events, count(DISTINCT e.amplitude_id) AS active_users,
                      count(*) FILTER (WHERE e.amplitude_id IS NOT NULL AND (e.session_id IS NULL OR e.session_id = -1)) AS sessionless,
                      count(DISTINCT coalesce(m.amplitude_id, e.amplitude_id)) AS active_people
                 FROM ${s}.events e LEFT JOIN merges m ON m.project = e.project AND m.merged = e.amplitude_id GROUP BY 1, 2) d
         LEFT JOIN (SELECT project, (first AT TIME ZONE 'UTC')::date AS day, count(*) AS n
                      FROM (SELECT project, min(event_time) AS first FROM ${s}.events WHERE amplitude_id IS NOT NULL GROUP BY project, amplitude_id) u
                     GROUP BY 1, 2) f USING (project, day)
         LEFT JOIN (SELECT project, (first AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
                           make_interval(days => div(avg(extract(epoch FROM last - first)), 86400)::integer,
                                         secs => mod(avg(extract(epoch FROM last - first)), 86400)::double precision) AS average
                      FROM (SELECT project, min(event_time) AS first, max(event_time) AS last FROM ${s}.events
                             WHERE amplitude_id IS NOT NULL AND session_id <> -1 GROUP BY project, amplitude_id, session_id) t
                     GROUP BY 1, 2) x USING (project, day)`,
    ],
  };
  for (const [rollup, [kept, truth]] of Object.entries(recomputed)) {
    const { rows } = await pool.query(
      `SELECT 'extra' AS side, * FROM ((${kept}) EXCEPT ALL (${truth})) x UNION ALL SELECT 'missing', * FROM ((${truth}) EXCEPT ALL (${kept})) y LIMIT 5`,
    );
    assert.deepEqual(rows, [], `${rollup} differs from a recomputation from events`);
  }
}

async function assertHoursWhole(pool: pg.ClientBase, schema: string): Promise<void> {
  const { rows } = await pool.query(
    `SELECT c.project || ' ' || to_char(c.upload_hour, 'YYYYMMDD"T"HH24') AS hour, sum(c.n)::int AS copies, h.status,
            (h.events_read - h.rejected_lines)::int AS expected
       FROM (SELECT project, upload_hour, count(*) AS n FROM "${schema}".events GROUP BY 1, 2
             UNION ALL SELECT project, upload_hour, count(*) FROM "${schema}_loader".duplicates GROUP BY 1, 2) c
       LEFT JOIN "${schema}_loader".upload_hours h USING (project, upload_hour)
      GROUP BY c.project, c.upload_hour, h.status, h.events_read, h.rejected_lines`,
  );
  for (const row of rows) {
    assert.equal(row.status, 'loaded', `hour ${row.hour} has rows but is ${row.status ?? 'not recorded'}`);
    assert.equal(row.copies, row.expected, `hour ${row.hour} holds ${row.copies} of ${row.expected} events`);
  }
}

async function checkDedupState(pool: pg.ClientBase, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const l = `"${schema}_loader"`;
  const { rows: twice } = await pool.query(`SELECT project, uuid FROM ${s}.events GROUP BY 1, 2 HAVING count(*) > 1`);
  assert.deepEqual(twice, [], 'a uuid is kept twice in a project');
  const group = (alias: string) => `hashtext(${l}.insert_group(${alias}.app, ${alias}.device_id, ${alias}.user_id, ${alias}.insert_id))`;
  const hour = (alias: string) => `floor(extract(epoch FROM ${alias}.event_time) / 3600)::integer`;
  const { rows: projects } = await pool.query<{ project: string; id: number }>(`SELECT project, project_id AS id FROM ${l}.projects`);
  for (const { project, id } of projects) {
    const keys = `${l}.event_keys_${id}`;
    // Joins, not LATERAL subqueries, so the check runs on Citus too.
    const { rows: wrong } = await pool.query(
      `WITH u AS (SELECT uuid FROM ${s}.events WHERE project = $1 UNION SELECT uuid FROM ${l}.duplicates WHERE project = $1),
            k AS (SELECT uuid, min(event_hour) AS event_hour, min(group_hash) AS group_hash, count(*)::int AS n FROM ${keys} GROUP BY uuid),
            r AS (SELECT e.uuid, ${hour('e')} AS event_hour, ${group('e')} AS group_hash FROM ${s}.events e WHERE e.project = $1
                  UNION ALL SELECT d.uuid, ${hour('d')}, ${group('d')} FROM ${l}.duplicates d WHERE d.rule = 'insert_id' AND d.project = $1)
       SELECT u.uuid::text, k.event_hour AS key, k.group_hash, r.event_hour AS representative, r.group_hash AS representative_group, k.n
         FROM u LEFT JOIN k USING (uuid) LEFT JOIN r USING (uuid)
        WHERE k.n IS DISTINCT FROM 1 OR k.event_hour IS DISTINCT FROM r.event_hour OR k.group_hash IS DISTINCT FROM r.group_hash`,
      [project],
    );
    assert.deepEqual(wrong, [], `every uuid of project ${project} has one key, at its representative`);
    const { rows: orphans } = await pool.query(
      `WITH u AS (SELECT uuid FROM ${s}.events WHERE project = $1 UNION SELECT uuid FROM ${l}.duplicates WHERE project = $1)
       SELECT count(*)::int AS n FROM ${keys} k LEFT JOIN u USING (uuid) WHERE u.uuid IS NULL`,
      [project],
    );
    assert.equal(orphans[0].n, 0, `no key of project ${project} without a copy`);
  }
}
