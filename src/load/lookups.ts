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
