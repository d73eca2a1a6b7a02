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
