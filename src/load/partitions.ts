import type pg from 'pg';
import { classifyDatabaseError } from '../errors.js';
import { quoteIdentifier } from '../db/pool.js';

/** A month of event_time, as Postgres printed `date_trunc('month', …)`: its bounds and a name. */
export interface PartitionMonth {
  readonly from: string;
  readonly to: string;
  readonly suffix: string;
}

/**
 * Selects the months a query's `event_time` values fall in. `source` is a FROM clause that yields an
 * `event_time` column; the query runs in the caller's transaction.
 */
export async function monthsOf(client: pg.ClientBase, source: string): Promise<PartitionMonth[]> {
  const { rows } = await client.query<PartitionMonth>(
    `SELECT m::text AS "from", (m + interval '1 month')::text AS "to",
            CASE WHEN m < '0001-01-01 00:00:00+00' THEN to_char(m, 'YYYY_MM') || '_bc' ELSE to_char(m, 'YYYY_MM') END AS suffix
       FROM (SELECT DISTINCT date_trunc('month', event_time) AS m FROM ${source}) months
      WHERE m IS NOT NULL`,
  );
  return rows;
}

/**
 * Creates the monthly partitions of `events` that do not exist yet, each in its own short transaction
 * on a connection of its own, so the hour's transaction never holds a lock on the parent table while
 * it waits. The table is created apart and then attached: ATTACH takes only SHARE UPDATE EXCLUSIVE on
 * the parent, so loaders inserting and analysts reading carry on. An advisory lock keeps two loaders
 * from creating the same month at once.
 */
export class PartitionManager {
  private readonly known = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  async ensure(months: readonly PartitionMonth[]): Promise<void> {
    const missing = months.filter((m) => !this.known.has(m.suffix));
    if (missing.length === 0) return;
    const client = await this.pool.connect();
    let failure: unknown;
    try {
      for (const month of missing) {
        await this.create(client, month);
        this.known.add(month.suffix);
      }
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => {});
      throw classifyDatabaseError(error, { doing: 'creating a partition of events' });
    } finally {
      client.release(failure instanceof Error ? failure : undefined);
    }
  }

  private async create(client: pg.PoolClient, month: PartitionMonth): Promise<void> {
    const schema = quoteIdentifier(this.schema);
    const name = `events_p${month.suffix}`;
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('amplitude-pg partitions ' || $1, 0))`, [this.schema]);
    const { rows } = await client.query<{ exists: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = $1::regclass AND c.relname = $2
       ) AS exists`,
      [`${schema}.events`, name],
    );
    if (!rows[0]?.exists) {
      const table = `${schema}.${quoteIdentifier(name)}`;
      await client.query(`CREATE TABLE ${table} (LIKE ${schema}.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
      await client.query(
        `ALTER TABLE ${schema}.events ATTACH PARTITION ${table} FOR VALUES FROM ('${month.from}') TO ('${month.to}')`,
      );
    }
    await client.query('COMMIT');
  }
}
