import type pg from 'pg';
import { analystTable, loaderTable } from './loader-schema.js';

/** Whether a table is distributed by Citus (false where Citus is not installed). */
export async function isDistributed(client: pg.ClientBase, table: string): Promise<boolean> {
  const { rows } = await client.query<{ citus: boolean }>(`SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AS citus`);
  if (!rows[0]?.citus) return false;
  const { rowCount } = await client.query('SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::regclass', [table]);
  return (rowCount ?? 0) > 0;
}

/**
 * Where the database has the citus extension: `events`, and `duplicates` co-located with it, are
 * distributed by uuid (every lookup deduplication makes into them goes by uuid, so the copies of an
 * event, its moves and its representative stay on one shard, and uuids do not skew). Everything else
 * stays on the coordinator: the loader's state, locks and keys, and the rollups. Idempotent; on an
 * existing warehouse, create_distributed_table moves the rows to the workers. Returns what it
 * distributed.
 */
export async function distributeWarehouse(client: pg.ClientBase, schema: string): Promise<string[]> {
  const { rowCount } = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`);
  if (!rowCount) return [];
  const events = analystTable(schema, 'events');
  const distributed: string[] = [];
  for (const [table, colocateWith] of [
    [events, 'default'],
    [loaderTable(schema, 'duplicates'), events],
  ] as const) {
    if (await isDistributed(client, table)) continue;
    await client.query(`SELECT create_distributed_table($1, 'uuid', colocate_with => $2)`, [table, colocateWith]);
    distributed.push(table);
  }
  // Queries on the workers compute insert groups; a warehouse migrated before the extension existed
  // has the function on the coordinator only.
  const insertGroup = `${loaderTable(schema, 'insert_group')}(bigint, text, text, text)`;
  const { rowCount: known } = await client.query(
    `SELECT 1 FROM pg_catalog.pg_dist_object WHERE classid = 'pg_proc'::regclass AND objid = $1::regprocedure`,
    [insertGroup],
  );
  if (!known) await client.query('SELECT create_distributed_function($1::regprocedure)', [insertGroup]);
  return distributed;
}
