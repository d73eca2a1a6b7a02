import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { DedupCounters, LineCounters } from '../counters.js';
import { analystTable, loaderTable } from '../db/loader-schema.js';
import { quoteIdentifier } from '../db/pool.js';
import { classifyDatabaseError, LoaderError } from '../errors.js';
import type { ArchiveEntry } from '../extract/archive-entries.js';
import { EVENTS_COPY_COLUMNS, KEYS_COPY_COLUMNS, REJECTS_COPY_COLUMNS, type EncodedBatch } from '../transform/entry-lines.js';
import type { EntryTransform } from '../transform/transform-threads.js';
import { HourDedup } from './dedup.js';
import type { RegisteredProject } from '../state/projects.js';
import type { PartitionManager } from './partitions.js';
import { utcMonthOf, type MonthIndex } from '../transform/utc-calendar.js';
import { recordHourRollups, replaceLostStates, type HourTransaction } from './rollups.js';
import type { StageClock } from './stage-clock.js';

export interface HourLoadOptions {
  readonly project: RegisteredProject;
  readonly hourLabel: string;
  /** The upload hour as an ISO timestamp, the key of its rows everywhere. */
  readonly hourTimestamp: string;
  /** True when an earlier load of this hour committed: its rows are replaced. */
  readonly replacing: boolean;
  /** The insert_id window in microseconds; null turns the rule off. */
  readonly insertIdWindowMicros: bigint | null;
  readonly lockWaitSeconds: number;
  readonly partitions: PartitionManager;
  readonly clock: StageClock;
  readonly signal: AbortSignal;
}

// Dedup keys and rejected lines wait in memory for their own COPYs; past this many bytes they are
// written out (about 6,000 rows' keys).
const SIDE_FLUSH_BYTES = 1024 * 1024;

/** COPY text held back, as bytes: a string built from slices of the lines would keep every line alive. */
class HeldRows {
  private chunks: Buffer[] = [];
  bytes = 0;

  add(text: string): void {
    if (text.length === 0) return;
    const chunk = Buffer.from(text);
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  take(): Buffer[] {
    const chunks = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    return chunks;
  }
}

/**
 * One upload hour as one transaction on one checked-out client. Each entry's rows are COPYed straight
 * into `events` (their partitions created first), their dedup keys into a narrow temporary table, its
 * rejected lines into `rejects`; then dedup probes,
 * takes its lock and settles (dedup.ts), the caller writes the bookkeeping, and COMMIT releases the
 * lock. A failure at any point rolls the whole hour back.
 */
export class HourLoad {
  private released = false;
  private readonly entryNames: string[] = [];
  /** The UTC months of the rows the hour wrote: whose partitions' BRIN ranges are summarized after it commits. */
  readonly monthsWritten = new Set<MonthIndex>();
  private readonly dedup: HourDedup;

  private constructor(
    private readonly client: pg.PoolClient,
    private readonly options: HourLoadOptions,
    /** Its start, as Postgres prints a timestamptz (every row of this load carries it as `loaded_at`), and its id. */
    private readonly transaction: HourTransaction,
  ) {
    this.dedup = new HourDedup(client, {
      project: options.project,
      hourLabel: options.hourLabel,
      hour: options.hourTimestamp,
      transaction,
      windowMicros: options.insertIdWindowMicros,
      replacing: options.replacing,
      lockWaitSeconds: options.lockWaitSeconds,
      partitions: options.partitions,
    });
  }

  static async begin(pool: pg.Pool, options: HourLoadOptions): Promise<HourLoad> {
    // On Citus, attaching a partition waits for loaders holding locks on the distributed events: the
    // months an hour's events mostly fall in (its own and the one before) are made before it takes any.
    await options.partitions.open();
    if (options.project.distributed) {
      const month = utcMonthOf(options.hourTimestamp);
      await options.partitions.ensure([month - 1, month]);
    }
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw classifyDatabaseError(error, { hour: options.hourLabel, doing: 'connecting to the database' });
    }
    let transaction: HourTransaction;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ loaded_at: string; xid: string }>('SELECT now()::text AS loaded_at, pg_current_xact_id()::text AS xid');
      transaction = { loadedAt: rows[0]?.loaded_at as string, xid: rows[0]?.xid as string };
    } catch (error) {
      client.release(error instanceof Error ? error : undefined);
      throw classifyDatabaseError(error, { hour: options.hourLabel, doing: 'starting the hour' });
    }
    const load = new HourLoad(client, options, transaction);
    try {
      await load.run('starting the hour', async () => {
        await load.dedup.createTables();
        if (options.replacing) await load.dedup.removeEarlierRejects();
      });
    } catch (error) {
      await load.abort(error);
      throw error;
    }
    return load;
  }

  /** The hour's entries in the order they were read; `archive_entry` is a position in this list. */
  get entries(): readonly string[] {
    return this.entryNames;
  }

  /**
   * COPYs one archive entry into `events`, streaming with backpressure. The COPY ends when a batch's
   * rows fall in a month without a partition (it is created) or the keys and rejects held back fill
   * up (they are COPYed); then a new one goes on.
   */
  async copyEntry(entry: ArchiveEntry, maxLineBytes: number, counters: LineCounters, transform: EntryTransform): Promise<void> {
    this.entryNames.push(entry.name);
    const source = {
      hourLabel: this.options.hourLabel,
      project: this.options.project.project,
      uploadHour: this.options.hourTimestamp,
      loadedAt: this.transaction.loadedAt,
      entryName: entry.name,
      entryNumber: this.entryNames.length,
      maxLineBytes,
    };
    const { schema } = this.options.project;
    const copyEvents = `COPY ${analystTable(schema, 'events')} (${EVENTS_COPY_COLUMNS.map(quoteIdentifier).join(', ')}) FROM STDIN`;
    const copyRejects = `COPY ${loaderTable(schema, 'rejects')} (${REJECTS_COPY_COLUMNS.map(quoteIdentifier).join(', ')}) FROM STDIN`;
    const copyKeys = `COPY ${this.dedup.keysTable} (${KEYS_COPY_COLUMNS.map(quoteIdentifier).join(', ')}) FROM STDIN`;
    const partitions = this.options.partitions;
    await this.run(`loading entry ${entry.name}`, async () => {
      const batches = transform(entry.chunks(), source, counters)[Symbol.asyncIterator]();
      const pull = async () => {
        const next = await batches.next();
        return next.done ? undefined : next.value;
      };
      let batch: EncodedBatch | undefined = await pull();
      const keys = new HeldRows();
      const rejects = new HeldRows();
      const monthsWritten = this.monthsWritten;
      // One COPY: this batch and the next ones, until one needs a new partition or keys and rejects pile up.
      async function* segment(): AsyncGenerator<string | Buffer> {
        while (batch !== undefined) {
          for (const piece of batch.events) if (piece.length > 0) yield piece;
          for (const month of batch.months) monthsWritten.add(month);
          keys.add(batch.keys);
          rejects.add(batch.rejects);
          batch = await pull();
          if (batch === undefined || keys.bytes + rejects.bytes >= SIDE_FLUSH_BYTES || partitions.unknown(batch.months).length > 0) return;
        }
      }
      const copyHeld = async (statement: string, held: HeldRows) => {
        const chunks = held.take();
        if (chunks.length > 0) await pipeline(Readable.from(chunks), this.client.query(copyFrom(statement)), { signal: this.options.signal });
      };
      try {
        while (batch !== undefined) {
          const missing = partitions.unknown(batch.months);
          if (missing.length > 0) await this.options.clock.time('partitions', () => partitions.ensure(missing));
          await pipeline(segment, this.client.query(copyFrom(copyEvents)), { signal: this.options.signal });
          await copyHeld(copyKeys, keys);
          await copyHeld(copyRejects, rejects);
        }
      } finally {
        await batches.return?.(undefined);
      }
    });
  }

  /**
   * Probes the history for the hour's keys, appends the hour's uncontested rows to the rollups' pending
   * changes, takes the dedup lock and settles what is contested (its moves append their own changes),
   * then appends the contested rows that stayed. The lock is held from here until commit or rollback.
   */
  async deduplicate(): Promise<{ counts: DedupCounters; mergeSeq: string }> {
    const clock = this.options.clock;
    if (this.options.replacing) await clock.time('probe', () => this.run('finding the rows an earlier load wrote the same', () => this.dedup.keepUnchanged()));
    await clock.time('probe', () => this.run('probing the history for duplicates', () => this.dedup.probe()));
    await clock.time('tally', () => this.run('summing the hour for the rollups', () => recordHourRollups(this.client, this.options.project, this.transaction, false)));
    await clock.time('lock', () => this.run('waiting for the dedup lock', () => this.dedup.lock()));
    const settled = await clock.time('settle', () => this.run('settling contested duplicates', () => this.dedup.settle()));
    if (this.dedup.heldBack) {
      await clock.time('settle', () =>
        this.run('summing the rows settling kept for the rollups', () => recordHourRollups(this.client, this.options.project, this.transaction, true)),
      );
    }
    await clock.time('settle', () =>
      this.run('reading again the users and sessions that lost a row', () => replaceLostStates(this.client, this.options.project, this.transaction, settled.mergeSeq)),
    );
    return settled;
  }

  /** Runs a query on the hour's client inside its transaction. */
  async query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    return this.run('writing the bookkeeping', () => this.client.query(text, values));
  }

  async commit(): Promise<void> {
    await this.run('committing the hour', () => this.client.query('COMMIT'));
    this.release();
  }

  /** Rolls back; a client whose connection failed is discarded rather than returned to the pool. */
  async abort(error: unknown): Promise<void> {
    if (this.released) return;
    try {
      await this.client.query('ROLLBACK');
      this.release();
    } catch {
      this.release(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private release(error?: Error): void {
    if (this.released) return;
    this.released = true;
    this.client.release(error);
  }

  private async run<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof LoaderError) throw error;
      throw classifyDatabaseError(error, { hour: this.options.hourLabel, doing });
    }
  }
}
