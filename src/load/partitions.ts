import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { classifyDatabaseError } from '../errors.js';
import { quoteIdentifier } from '../db/pool.js';

/** A month of event_time, as Postgres printed `date_trunc('month', …)`: its bounds and a name. */
export interface PartitionMonth {
  readonly from: string;
  readonly to: string;
  readonly suffix: string;
}

/** The partition month of a UTC month `YYYY-MM`, as `utcMonthOf` names it. */
export function partitionMonth(month: string): PartitionMonth {
  const year = Number(month.slice(0, -3));
  const next = Number(month.slice(-2)) === 12 ? `${String(year + 1).padStart(4, '0')}-01` : `${month.slice(0, -2)}${String(Number(month.slice(-2)) + 1).padStart(2, '0')}`;
  return { from: `${month}-01 00:00:00+00`, to: `${next}-01 00:00:00+00`, suffix: month.replace('-', '_') };
}

/** The month (`YYYY-MM`) before one. */
export function previousMonth(month: string): string {
  const year = Number(month.slice(0, -3));
  const number = Number(month.slice(-2));
  return number === 1 ? `${String(year - 1).padStart(4, '0')}-12` : `${month.slice(0, -2)}${String(number - 1).padStart(2, '0')}`;
}

/** The UTC month, `YYYY-MM`, of a time in epoch microseconds (civil-from-days, any year). */
export function monthOfMicros(micros: bigint): string {
  const days = Number((micros >= 0n ? micros : micros - 86_399_999_999n) / 86_400_000_000n);
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shifted = Math.floor((5 * dayOfYear + 2) / 153);
  const month = shifted < 10 ? shifted + 3 : shifted - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

const DEADLOCK_ATTEMPTS = 5;

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

  /** The months (`YYYY-MM`) of these that this loader has not yet seen exist. */
  unknown(months: Iterable<string>): string[] {
    return [...months].filter((m) => !this.known.has(m.replace('-', '_')));
  }

  async ensure(months: readonly PartitionMonth[]): Promise<void> {
    const missing = months.filter((m) => !this.known.has(m.suffix));
    if (missing.length === 0) return;
    const client = await this.pool.connect();
    let failure: unknown;
    let creating = '';
    try {
      for (const month of missing) {
        creating = `${this.schema}.events_p${month.suffix}`;
        for (let attempt = 1; ; attempt++) {
          try {
            await this.create(client, month);
            break;
          } catch (error) {
            // On Citus, attaching a distributed partition beside loaders that write events can be
            // chosen as the victim of a distributed deadlock; the other side goes on, so it is tried again.
            if ((error as { code?: string }).code !== '40P01' || attempt === DEADLOCK_ATTEMPTS) throw error;
            await client.query('ROLLBACK');
            await sleep(100 * attempt);
          }
        }
        this.known.add(month.suffix);
      }
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => {});
      throw classifyDatabaseError(error, { doing: `creating partition ${creating} of ${this.schema}.events` });
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
      // The reader role reads events; a partition queried on its own needs its own grant.
      const { rowCount } = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = 'amplitude_reader'`);
      if (rowCount) await client.query(`GRANT SELECT ON ${table} TO amplitude_reader`);
    }
    await client.query('COMMIT');
  }
}
