import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { loaderTable } from '../db/loader-schema.js';
import { quoteIdentifier } from '../db/pool.js';
import { classifyDatabaseError } from '../errors.js';
import { monthLabel, monthStart, type MonthIndex } from '../transform/utc-calendar.js';

const DEADLOCK_ATTEMPTS = 5;

/** The months that have partitions of their own; every other time is in one of the era's two edge partitions. */
interface Era {
  readonly first: MonthIndex;
  readonly end: MonthIndex;
}

/**
 * Makes the monthly partitions of `events` an hour's rows need, through the warehouse's own
 * `create_events_partition` (sql/0011): only months of the era have one; every other time goes to an
 * edge partition that always exists. Each month is made in its own short transaction on a connection
 * of its own, so the hour's transaction never holds a lock on the parent table while it waits.
 */
export class PartitionManager {
  private readonly known = new Set<MonthIndex>();
  private era: Promise<Era> | undefined;
  private eraRead: Era | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  /** Reads the era from the warehouse, once; `unknown` needs it. */
  async open(): Promise<void> {
    this.era ??= this.pool
      .query<{ first: number; end: number }>(
        `SELECT (extract(year FROM first_month AT TIME ZONE 'UTC') * 12 + extract(month FROM first_month AT TIME ZONE 'UTC') - 1)::int AS first,
                (extract(year FROM end_month AT TIME ZONE 'UTC') * 12 + extract(month FROM end_month AT TIME ZONE 'UTC') - 1)::int AS end
           FROM ${loaderTable(this.schema, 'events_era')}()`,
      )
      .then(({ rows }) => ({ first: rows[0]?.first as number, end: rows[0]?.end as number }))
      .catch((error: unknown) => {
        this.era = undefined;
        throw classifyDatabaseError(error, { doing: `reading the partition era of ${this.schema}.events` });
      });
    this.eraRead = await this.era;
  }

  /** The months of these that have partitions of their own which this loader has not yet seen exist. */
  unknown(months: Iterable<MonthIndex>): MonthIndex[] {
    const era = this.eraRead;
    if (era === undefined) throw new Error('PartitionManager.open() must come first');
    return [...months].filter((m) => m >= era.first && m < era.end && !this.known.has(m));
  }

  async ensure(months: Iterable<MonthIndex>): Promise<void> {
    await this.open();
    const missing = this.unknown(months);
    if (missing.length === 0) return;
    const client = await this.pool.connect();
    let failure: unknown;
    let creating = '';
    try {
      for (const month of missing) {
        creating = monthLabel(month);
        for (let attempt = 1; ; attempt++) {
          try {
            await client.query('BEGIN');
            await client.query(`SELECT ${loaderTable(this.schema, 'create_events_partition')}($1::timestamptz)`, [monthStart(month)]);
            await client.query('COMMIT');
            break;
          } catch (error) {
            // On Citus, attaching a distributed partition beside loaders that write events can be
            // chosen as the victim of a distributed deadlock; the other side goes on, so it is tried again.
            if ((error as { code?: string }).code !== '40P01' || attempt === DEADLOCK_ATTEMPTS) throw error;
            await client.query('ROLLBACK');
            await sleep(100 * attempt);
          }
        }
        this.known.add(month);
      }
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => {});
      throw classifyDatabaseError(error, { doing: `creating the partition of ${this.schema}.events for ${creating}` });
    } finally {
      client.release(failure instanceof Error ? failure : undefined);
    }
  }
}

/**
 * After an hour commits, outside its transaction: summarizes the page ranges its rows filled in the
 * BRIN indexes of the partitions holding `months` (sql/0015), which vacuum would otherwise do some
 * time later; until then an unsummarized range matches every query, so finding one hour's rows or a
 * time window read the whole partition. Waits for nobody: a partition vacuum is at is left to it.
 */
export async function summarizeNewRanges(pool: pg.Pool, schema: string, months: Iterable<MonthIndex>): Promise<void> {
  // Every month before the era is in events_before_2010 alike, and every month after it in
  // events_from_2040; the calendar's ends (1 BC, past 294276) have no text PostgreSQL reads, so they
  // are asked for as January of year 1 and December of 9999.
  const starts = [...months].map((month) => monthStart(Math.min(Math.max(month, 12), 9999 * 12 + 11)));
  if (starts.length === 0) return;
  try {
    await pool.query(`SELECT ${loaderTable(schema, 'summarize_new_ranges')}($1::timestamptz[])`, [starts]);
  } catch (error) {
    throw classifyDatabaseError(error, { doing: `summarizing the BRIN ranges of ${schema}.events` });
  }
}

/**
 * Whether the server's lock table can hold what this run's hours lock: every query of an hour on
 * `events` locks each partition and each of its indexes until the hour commits, and the table
 * (max_locks_per_transaction × (max_connections + max_prepared_transactions)) is shared by every
 * session. A message saying what to raise when `concurrency` hours would take more than half of it.
 */
export async function lockTableWarning(pool: pg.Pool, schema: string, concurrency: number): Promise<string | undefined> {
  const { rows } = await pool.query<{ partitions: number; locks: number; capacity: number }>(
    `SELECT count(*)::int AS partitions,
            coalesce(sum(1 + (SELECT count(*) FROM pg_index x WHERE x.indrelid = i.inhrelid)), 0)::int AS locks,
            (current_setting('max_locks_per_transaction')::int
              * (current_setting('max_connections')::int + current_setting('max_prepared_transactions')::int))::int AS capacity
       FROM pg_inherits i WHERE i.inhparent = to_regclass($1)`,
    [`${quoteIdentifier(schema)}.events`],
  );
  const { partitions, locks, capacity } = rows[0] as { partitions: number; locks: number; capacity: number };
  if (locks * concurrency <= capacity / 2) return undefined;
  return (
    `${schema}.events has ${partitions} partitions: ${concurrency} hours in flight lock about ${locks * concurrency} of the ` +
    `server's ${capacity} lock slots (max_locks_per_transaction × max_connections), shared with every other session; raise ` +
    'max_locks_per_transaction, or lower --concurrency, before hours fail with "out of shared memory"'
  );
}
