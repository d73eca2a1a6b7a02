/**
 * Rows of `table` (as `alias`) meeting `condition` for each row of `outer`, as a FROM clause. On one
 * server: a LATERAL subquery fenced by OFFSET 0, so each outer row costs one index probe whatever the
 * statistics say (the planner would otherwise hash or sort whole partitions). On Citus, which cannot
 * run a LATERAL subquery into a distributed table: a plain join, which it routes to the shards of the
 * outer rows' uuids, or runs on every worker with the outer rows sent along.
 */
export function rowsFor(distributed: boolean, outer: string, table: string, alias: string, condition: string): string {
  return distributed
    ? `${outer} JOIN ${table} ${alias} ON ${condition}`
    : `${outer}, LATERAL (SELECT * FROM ${table} ${alias} WHERE ${condition} OFFSET 0) ${alias}`;
}

/**
 * For each `amplitude_id` of `users`, the user's state in `table` (events) within the project given
 * as `project`: the first event's time, and the newest row (by time, then uuid) with its uuid, user_id
 * and user_properties; NULLs for a user with no row left. On one server, two descents of the users'
 * index per user; on Citus, a join that reads each user's rows on every worker.
 */
export function userStatesOf(distributed: boolean, users: string, table: string, project: string): string {
  return distributed
    ? `SELECT r.amplitude_id, f.first_seen, f.event_time AS last_seen, f.uuid AS last_event_uuid, f.user_id, f.user_properties
         FROM ${users} r
         LEFT JOIN (SELECT DISTINCT ON (e.amplitude_id) e.amplitude_id, min(e.event_time) OVER (PARTITION BY e.amplitude_id) AS first_seen,
                           e.event_time, e.uuid, e.user_id, e.user_properties
                      FROM ${users} r JOIN ${table} e ON e.amplitude_id = r.amplitude_id AND e.project = ${project}
                     ORDER BY e.amplitude_id, e.event_time DESC, e.uuid DESC) f USING (amplitude_id)`
    : `SELECT r.amplitude_id, f.first_seen, e.event_time AS last_seen, e.uuid AS last_event_uuid, e.user_id, e.user_properties
         FROM ${users} r
         LEFT JOIN LATERAL (SELECT min(event_time) AS first_seen FROM ${table} WHERE amplitude_id = r.amplitude_id AND project = ${project}) f ON true
         LEFT JOIN LATERAL (SELECT * FROM ${table} WHERE amplitude_id = r.amplitude_id AND project = ${project}
                             ORDER BY event_time DESC, uuid DESC LIMIT 1) e ON true`;
}

/**
 * The CTE `name`: the rows a reload wrote (loaded_at = $3, upload hour $1, project $2) that an earlier
 * load of the hour wrote the same (same entry and line, `same(new, old)` over every column), as their
 * uuid, event_time, archive_entry, archive_line and where the earlier copy is (`place`: events or
 * duplicates). `columns` are the columns compared, as the earlier copies are read.
 *
 * On one server: each key the hour COPYed (stage_keys) costs an index probe for its new row and one for
 * its earlier copy in each table, whatever the statistics say; a partition filled moments ago has none,
 * and the planner then compared every new row of the hour with every earlier one. On Citus, whose
 * distributed DELETE (which reads this CTE) may read no temporary table: the hour's earlier and new rows
 * joined by key, each worker on its shards.
 */
export function unchangedRowsOf(
  distributed: boolean,
  name: string,
  events: string,
  duplicates: string,
  columns: string,
  same: (fresh: string, earlier: string) => string,
): string {
  if (distributed) {
    return `earlier AS (SELECT 'events' AS place, ${columns} FROM ${events} WHERE project = $2 AND upload_hour = $1 AND loaded_at <> $3
                        UNION ALL SELECT 'duplicates', ${columns} FROM ${duplicates} WHERE project = $2 AND upload_hour = $1),
            ${name} AS (SELECT n.uuid, n.event_time, n.archive_entry, n.archive_line, o.place
                          FROM ${events} n JOIN earlier o USING (uuid, archive_entry, archive_line)
                         WHERE n.project = $2 AND n.upload_hour = $1 AND n.loaded_at = $3 AND ${same('n', 'o')})`;
  }
  const copyOf = (alias: string) =>
    `${alias}.uuid = n.uuid AND ${alias}.event_time = n.event_time AND ${alias}.project = $2 AND ${alias}.upload_hour = $1
     AND ${alias}.archive_entry = n.archive_entry AND ${alias}.archive_line = n.archive_line`;
  // Materialized: the DELETE that reads it then probes events for each of its few, narrow rows.
  return `${name} AS MATERIALIZED (
            SELECT n.uuid, n.event_time, n.archive_entry, n.archive_line, o.place
              FROM stage_keys s,
                   LATERAL (SELECT * FROM ${events} n
                             WHERE n.uuid = s.uuid AND n.event_time = s.event_time AND n.project = $2 AND n.upload_hour = $1 AND n.loaded_at = $3
                               AND n.archive_entry = s.archive_entry AND n.archive_line = s.archive_line OFFSET 0) n,
                   LATERAL (SELECT 'events' AS place, ${columns} FROM ${events} o WHERE ${copyOf('o')} AND o.loaded_at <> $3
                            UNION ALL SELECT 'duplicates', ${columns} FROM ${duplicates} d WHERE ${copyOf('d')} OFFSET 0) o
             WHERE ${same('n', 'o')})`;
}

/**
 * For each `(amplitude_id, session_id)` of `sessions`, the session's state in `table` (events) within
 * the project given as `project`: its first row (by time, then uuid) with the session's app, device,
 * platform and country, its last row with the user_id, and its count; NULLs and 0 for a session with no
 * row left.
 *
 * On one server, the session's rows are read through the users' index (amplitude_id, event_time)
 * between the earliest and latest times the rollup has for it, folded or pending (`folded`,
 * `pending`): every row of the session is counted there, so none lies outside. A few descents per
 * session, whatever the user's history. On Citus, a join that reads each user's rows of the session on
 * every worker.
 */
export function sessionStatesOf(distributed: boolean, sessions: string, table: string, folded: string, pending: string, project: string): string {
  const inSession = (alias: string, outer: string) =>
    `${alias}.amplitude_id = ${outer}.amplitude_id AND ${alias}.session_id = ${outer}.session_id AND ${alias}.project = ${project}`;
  const first = 'event_time AS session_start, uuid AS first_event_uuid, event_type AS first_event_type, app, device_id, platform, country';
  const last = 'event_time AS session_end, uuid AS last_event_uuid, event_type AS last_event_type, user_id';
  if (distributed) {
    return `SELECT r.amplitude_id, r.session_id, f.session_start, f.first_event_uuid, f.first_event_type, f.app, f.device_id, f.platform, f.country,
                   l.session_end, l.last_event_uuid, l.last_event_type, l.user_id, coalesce(l.events, 0) AS events
              FROM ${sessions} r
              LEFT JOIN (SELECT DISTINCT ON (e.amplitude_id, e.session_id) e.amplitude_id, e.session_id, ${first.replace(/(^|, )/g, '$1e.')}
                           FROM ${sessions} r JOIN ${table} e ON ${inSession('e', 'r')}
                          ORDER BY e.amplitude_id, e.session_id, e.event_time, e.uuid) f USING (amplitude_id, session_id)
              LEFT JOIN (SELECT DISTINCT ON (e.amplitude_id, e.session_id) e.amplitude_id, e.session_id, ${last.replace(/(^|, )/g, '$1e.')},
                                count(*) OVER (PARTITION BY e.amplitude_id, e.session_id) AS events
                           FROM ${sessions} r JOIN ${table} e ON ${inSession('e', 'r')}
                          ORDER BY e.amplitude_id, e.session_id, e.event_time DESC, e.uuid DESC) l USING (amplitude_id, session_id)`;
  }
  const rows = (alias: string) => `${table} ${alias} WHERE ${inSession(alias, 'b')} AND ${alias}.event_time BETWEEN b.lo AND b.hi`;
  // Pending rows have no index: read once, hashed against the sessions; the folded row by its key.
  return `SELECT b.amplitude_id, b.session_id, f.session_start, f.first_event_uuid, f.first_event_type, f.app, f.device_id, f.platform, f.country,
                 l.session_end, l.last_event_uuid, l.last_event_type, l.user_id, n.events
            FROM (SELECT r.amplitude_id, r.session_id, least(k.session_start, p.lo) AS lo, greatest(k.session_end, p.hi) AS hi
                    FROM ${sessions} r
                    LEFT JOIN (SELECT amplitude_id, session_id, min(session_start) AS lo, max(session_end) AS hi FROM ${pending}
                                WHERE project = ${project} AND (amplitude_id, session_id) IN (SELECT amplitude_id, session_id FROM ${sessions})
                                GROUP BY 1, 2) p USING (amplitude_id, session_id)
                    LEFT JOIN LATERAL (SELECT session_start, session_end FROM ${folded} k WHERE ${inSession('k', 'r')} OFFSET 0) k ON true) b
            LEFT JOIN LATERAL (SELECT ${first} FROM ${rows('e')} ORDER BY event_time, uuid LIMIT 1) f ON true
            LEFT JOIN LATERAL (SELECT ${last} FROM ${rows('e')} ORDER BY event_time DESC, uuid DESC LIMIT 1) l ON true
            LEFT JOIN LATERAL (SELECT count(*) AS events FROM ${rows('e')}) n ON true`;
}

/**
 * For each `(device_id, amplitude_id)` of `pairs`, when the user was first seen on the device, and first
 * with a user_id, in `table` (events) within the project given as `project` (a NULL device_id is the
 * events without one); NULLs when no row is left. On one server, a walk of the users' index in time
 * order per pair, which stops at the first row on the device; on Citus, a join that reads each user's
 * rows on every worker.
 */
export function deviceUserStatesOf(distributed: boolean, pairs: string, table: string, project: string): string {
  const onDevice = (alias: string, outer: string) =>
    `${alias}.amplitude_id = ${outer}.amplitude_id AND ${alias}.device_id IS NOT DISTINCT FROM ${outer}.device_id AND ${alias}.project = ${project}`;
  if (distributed) {
    return `SELECT r.device_id, r.amplitude_id, x.first_seen, x.first_identified_at
              FROM ${pairs} r
              LEFT JOIN (SELECT r.device_id, r.amplitude_id, min(e.event_time) AS first_seen, min(e.event_time) FILTER (WHERE e.user_id IS NOT NULL) AS first_identified_at
                           FROM ${pairs} r JOIN ${table} e ON ${onDevice('e', 'r')} GROUP BY r.device_id, r.amplitude_id) x
                ON x.device_id IS NOT DISTINCT FROM r.device_id AND x.amplitude_id = r.amplitude_id`;
  }
  return `SELECT r.device_id, r.amplitude_id, f.event_time AS first_seen, i.event_time AS first_identified_at
            FROM ${pairs} r
            LEFT JOIN LATERAL (SELECT event_time FROM ${table} e WHERE ${onDevice('e', 'r')} ORDER BY event_time LIMIT 1) f ON true
            LEFT JOIN LATERAL (SELECT event_time FROM ${table} e WHERE ${onDevice('e', 'r')} AND e.user_id IS NOT NULL ORDER BY event_time LIMIT 1) i ON true`;
}
