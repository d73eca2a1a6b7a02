import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { classifyDatabaseError, LoaderError } from '../errors.js';
import { quoteIdentifier } from '../db/pool.js';
import type { ArchiveEntry } from '../extract/archive-entries.js';
import { EVENTS_TABLE_COLUMNS } from '../transform/event-columns.js';
import { encodeEntryLines, STAGE_COPY_COLUMNS, type EntryCounters } from '../transform/entry-lines.js';
import { decideCopies, type CopyStatus, type EventCopy } from './dedup-decisions.js';
import { monthsOf, type PartitionManager } from './partitions.js';
import type { StageClock } from '../pipeline/stage-clock.js';

/** What the merge of one hour did to the table. */
export interface MergeCounts {
  rowsInserted: number;
  duplicatesUuid: number;
  duplicatesInsertId: number;
  rowsSuperseded: number;
  rowsRestored: number;
}

export interface HourLoadOptions {
  readonly schema: string;
  readonly hourLabel: string;
  /** The upload hour as an ISO timestamp, the key of its rows in the bookkeeping tables. */
  readonly hourTimestamp: string;
  /** The insert_id window in microseconds; null turns the rule off. */
  readonly insertIdWindowMicros: bigint | null;
  readonly partitions: PartitionManager;
  readonly clock: StageClock;
  readonly signal: AbortSignal;
}

const EVENT_COLUMN_LIST = EVENTS_TABLE_COLUMNS.map(quoteIdentifier).join(', ');
const MICROS = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;

interface CopyRow {
  staged: boolean;
  hour: string;
  entry_name: string;
  line_number: number;
  uuid: string;
  server_upload_time: string | null;
  event_time: string;
  insert_group: string | null;
  status: CopyStatus | null;
}

/**
 * One upload hour as one transaction on one checked-out client: every entry is COPYed into a
 * temporary staging table, then `finish` files the rejects, creates partitions, deduplicates against
 * everything stored, inserts, and lets the caller write the bookkeeping before COMMIT. A failure at
 * any point rolls the whole hour back.
 */
export class HourLoad {
  private readonly schema: string;
  private released = false;

  private constructor(
    private readonly client: pg.PoolClient,
    private readonly options: HourLoadOptions,
  ) {
    this.schema = quoteIdentifier(options.schema);
  }

  static async begin(pool: pg.Pool, options: HourLoadOptions): Promise<HourLoad> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw classifyDatabaseError(error, { hour: options.hourLabel, doing: 'connecting to the database' });
    }
    const load = new HourLoad(client, options);
    await load.run('starting the hour', async () => {
      await client.query('BEGIN');
      // Same columns as events but no constraints: reject rows leave the event columns NULL.
      await client.query(`CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT * FROM ${load.schema}.events WITH NO DATA`);
      await client.query(`
        ALTER TABLE stage
          ADD COLUMN entry_name text,
          ADD COLUMN line_number integer,
          ADD COLUMN reject_reason text,
          ADD COLUMN raw_line text,
          ADD COLUMN insert_group text GENERATED ALWAYS AS (
            CASE WHEN insert_id <> '' AND (device_id <> '' OR user_id <> '') THEN
              coalesce(app::text, '') || '/' ||
              CASE WHEN device_id <> '' THEN 'd' || length(device_id)::text || ':' || device_id
                   ELSE 'u' || length(user_id)::text || ':' || user_id END ||
              '/' || insert_id
            END) STORED`);
    });
    return load;
  }

  /** COPYs one archive entry into the staging table, streaming with backpressure. */
  async copyEntry(entry: ArchiveEntry, maxLineBytes: number, counters: EntryCounters): Promise<void> {
    const columns = STAGE_COPY_COLUMNS.map(quoteIdentifier).join(', ');
    await this.run(`loading entry ${entry.name}`, async () => {
      await pipeline(
        entry.chunks(),
        (lines: AsyncIterable<Buffer>) =>
          encodeEntryLines(lines, { hourLabel: this.options.hourLabel, entryName: entry.name, maxLineBytes }, counters),
        this.client.query(copyFrom(`COPY stage (${columns}) FROM STDIN`)),
        { signal: this.options.signal },
      );
    });
  }

  /**
   * Files rejects, deduplicates and inserts the staged rows. Rows an earlier load of this hour left
   * (a reload) are removed first, so the hour ends exactly as this archive says.
   */
  async merge(rejectedLines: number): Promise<MergeCounts> {
    return this.run('merging the hour into events', async () => {
      const client = this.client;
      const schema = this.schema;
      const hour = this.options.hourTimestamp;
      const clock = this.options.clock;
      await clock.time('partitions', async () => {
        // Dedup reads only the keys: a narrow copy spares every later query a scan of the wide rows.
        // In uuid order, the probes into event_copies' uuid index walk it from left to right.
        await client.query(
          `CREATE TEMP TABLE stage_keys ON COMMIT DROP AS
             SELECT entry_name, line_number, uuid, event_time, server_upload_time, insert_group FROM stage WHERE reject_reason IS NULL
             ORDER BY uuid`,
        );
        // Dedup joins run as index nested loops (below): these serve the joins among staged keys.
        await client.query('CREATE INDEX ON stage_keys (uuid)');
        await client.query('CREATE INDEX ON stage_keys (insert_group)');
        await client.query('ANALYZE stage_keys');
        await this.options.partitions.ensure(await monthsOf(client, 'stage_keys'));
      });

      // Every dedup query starts from a few staged rows and probes the indexes of event_copies. Without
      // this the planner, misled by a table that grows faster than autovacuum analyzes it, scans all of
      // event_copies for every hour: the cost of an hour would grow with everything loaded before.
      await client.query('SET LOCAL enable_hashjoin = off');
      await client.query('SET LOCAL enable_mergejoin = off');
      // The costly probes of the whole history run before the lock, in parallel with other loaders'
      // merges; under the lock only the hours merged meanwhile are probed again.
      const mergedBefore = await clock.time('dedup', () => this.probeHistory());

      // Dedup decides against everything stored, so hours merge one at a time, loader-wide.
      await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('amplitude-pg merge ' || $1, 0))`, [this.options.schema]);

      await client.query(`CREATE TEMP TABLE removed (uuid uuid, event_time timestamptz, insert_group text, status text) ON COMMIT DROP`);
      await client.query(
        `WITH gone AS (DELETE FROM ${schema}.event_copies WHERE upload_hour = $1 RETURNING uuid, event_time, insert_group, status)
         INSERT INTO removed SELECT * FROM gone`,
        [hour],
      );
      await client.query(
        `DELETE FROM ${schema}.events e USING removed r WHERE r.status = 'kept' AND e.uuid = r.uuid AND e.event_time = r.event_time`,
      );
      await client.query(`DELETE FROM ${schema}.duplicates WHERE upload_hour = $1`, [hour]);
      await client.query(`DELETE FROM ${schema}.rejects WHERE upload_hour = $1`, [hour]);
      if (rejectedLines > 0) {
        await client.query(
          `INSERT INTO ${schema}.rejects (upload_hour, entry_name, line_number, reason, raw_line)
           SELECT $1, entry_name, line_number, reject_reason, raw_line FROM stage WHERE reject_reason IS NOT NULL`,
          [hour],
        );
      }

      const decisions = await clock.time('dedup', () => this.decide(mergedBefore));
      const counts = await clock.time('dedup', () => this.applyStoredChanges(decisions));
      await client.query('RESET enable_hashjoin');
      await client.query('RESET enable_mergejoin');
      const staged = [...decisions].filter(([copy, status]) => copy.staged && status !== 'kept');
      await client.query(`CREATE TEMP TABLE staged_duplicates (entry_name text, line_number integer, rule text) ON COMMIT DROP`);
      if (staged.length > 0) {
        await client.query(`INSERT INTO staged_duplicates SELECT * FROM unnest($1::text[], $2::integer[], $3::text[])`, [
          staged.map(([c]) => c.entry),
          staged.map(([c]) => c.line),
          staged.map(([, s]) => s),
        ]);
        await client.query('ANALYZE staged_duplicates');
      }
      const inserted = await clock.time('insert', () =>
        client.query(
          `INSERT INTO ${schema}.events (${EVENT_COLUMN_LIST})
           SELECT ${EVENT_COLUMN_LIST} FROM stage s
            WHERE s.reject_reason IS NULL
              AND NOT EXISTS (SELECT 1 FROM staged_duplicates d WHERE d.entry_name = s.entry_name AND d.line_number = s.line_number)`,
        ),
      );
      await clock.time('copies', async () => {
        await client.query(
          `INSERT INTO ${schema}.duplicates (${EVENT_COLUMN_LIST}, upload_hour, entry_name, line_number, rule)
           SELECT ${EVENTS_TABLE_COLUMNS.map((c) => `s.${quoteIdentifier(c)}`).join(', ')}, $1, s.entry_name, s.line_number, d.rule
             FROM stage s JOIN staged_duplicates d ON d.entry_name = s.entry_name AND d.line_number = s.line_number`,
          [hour],
        );
        await client.query(
          `INSERT INTO ${schema}.event_copies (upload_hour, entry_name, line_number, uuid, event_time, server_upload_time, insert_group, status)
           SELECT $1, s.entry_name, s.line_number, s.uuid, s.event_time, s.server_upload_time, s.insert_group, coalesce(d.rule, 'kept')
             FROM stage_keys s LEFT JOIN staged_duplicates d ON d.entry_name = s.entry_name AND d.line_number = s.line_number`,
          [hour],
        );
      });
      counts.rowsInserted = inserted.rowCount ?? 0;
      counts.duplicatesUuid = staged.filter(([, s]) => s === 'uuid').length;
      counts.duplicatesInsertId = staged.filter(([, s]) => s === 'insert_id').length;
      return counts;
    });
  }

  /**
   * Finds, outside the merge lock, the staged uuids and insert groups that other hours' copies
   * contest (only contested keys reach Node: a reload of an unchanged hour contests nothing, however
   * large). Returns the last merge_seq committed before the probes began.
   */
  private async probeHistory(): Promise<string> {
    const client = this.client;
    const schema = this.schema;
    const hour = this.options.hourTimestamp;
    const { rows } = await client.query<{ seq: string }>(`SELECT coalesce(max(merge_seq), 0)::text AS seq FROM ${schema}.upload_hours`);
    await client.query(
      `CREATE TEMP TABLE affected_uuids ON COMMIT DROP AS
         SELECT uuid FROM stage_keys GROUP BY uuid HAVING count(*) > 1
         UNION SELECT s.uuid FROM stage_keys s JOIN ${schema}.event_copies c ON c.uuid = s.uuid AND c.upload_hour <> $1`,
      [hour],
    );
    const ruleOn = this.options.insertIdWindowMicros !== null;
    await client.query(
      `CREATE TEMP TABLE affected_groups ON COMMIT DROP AS
         SELECT insert_group FROM stage_keys WHERE insert_group IS NOT NULL GROUP BY insert_group HAVING count(*) > 1
         UNION SELECT s.insert_group FROM stage_keys s JOIN ${schema}.event_copies c ON c.insert_group = s.insert_group AND c.upload_hour <> $1
         ${ruleOn ? '' : 'LIMIT 0'}`,
      [hour],
    );
    return rows[0]?.seq ?? '0';
  }

  /**
   * Under the merge lock: completes the contested keys with the hours merged since `mergedBefore`,
   * with what a reload removed, and with every group a contested uuid belongs to; then fetches all
   * copies involved, staged and stored, and decides each.
   */
  private async decide(mergedBefore: string): Promise<Map<EventCopy, CopyStatus>> {
    const client = this.client;
    const schema = this.schema;
    const hour = this.options.hourTimestamp;
    const { rows: since } = await client.query<{ upload_hour: Date }>(
      `SELECT upload_hour FROM ${schema}.upload_hours WHERE merge_seq > $1 AND upload_hour <> $2`,
      [mergedBefore, hour],
    );
    const newHours = since.map((r) => r.upload_hour.toISOString());
    await client.query(
      `INSERT INTO affected_uuids
         SELECT s.uuid FROM ${schema}.event_copies c JOIN stage_keys s ON s.uuid = c.uuid WHERE c.upload_hour = ANY($1::timestamptz[])
         UNION SELECT r.uuid FROM removed r JOIN ${schema}.event_copies c ON c.uuid = r.uuid`,
      [newHours],
    );
    await client.query('ANALYZE affected_uuids');
    if (this.options.insertIdWindowMicros !== null) {
      await client.query(
        `INSERT INTO affected_groups
           SELECT s.insert_group FROM ${schema}.event_copies c JOIN stage_keys s ON s.insert_group = c.insert_group
            WHERE c.upload_hour = ANY($1::timestamptz[])
           UNION SELECT r.insert_group FROM removed r JOIN ${schema}.event_copies c ON c.insert_group = r.insert_group
           UNION SELECT s.insert_group FROM stage_keys s JOIN affected_uuids a ON a.uuid = s.uuid WHERE s.insert_group IS NOT NULL
           UNION SELECT c.insert_group FROM ${schema}.event_copies c JOIN affected_uuids a ON a.uuid = c.uuid WHERE c.insert_group IS NOT NULL`,
        [newHours],
      );
    }
    await client.query('ANALYZE affected_groups');
    const storedColumns = `false AS staged, c.upload_hour::text AS hour, c.entry_name, c.line_number, c.uuid::text,
      ${MICROS('c.server_upload_time')} AS server_upload_time, ${MICROS('c.event_time')} AS event_time, c.insert_group, c.status`;
    const stagedColumns = `true AS staged, $1::timestamptz::text AS hour, s.entry_name, s.line_number, s.uuid::text,
      ${MICROS('s.server_upload_time')} AS server_upload_time, ${MICROS('s.event_time')} AS event_time, s.insert_group, NULL AS status`;
    const { rows } = await client.query<CopyRow>(
      `SELECT ${storedColumns} FROM ${schema}.event_copies c JOIN affected_uuids a ON a.uuid = c.uuid
       UNION SELECT ${storedColumns} FROM ${schema}.event_copies c JOIN affected_groups g ON g.insert_group = c.insert_group
       UNION SELECT ${stagedColumns} FROM stage_keys s JOIN affected_uuids a ON a.uuid = s.uuid
       UNION SELECT ${stagedColumns} FROM stage_keys s JOIN affected_groups g ON g.insert_group = s.insert_group`,
      [hour],
    );
    const { rows: uuids } = await client.query<{ uuid: string }>('SELECT DISTINCT uuid::text FROM affected_uuids');
    const copies: EventCopy[] = rows.map((r) => ({
      staged: r.staged,
      hour: r.hour,
      entry: r.entry_name,
      line: r.line_number,
      uuid: r.uuid,
      serverUploadTime: r.server_upload_time === null ? null : BigInt(r.server_upload_time),
      eventTime: BigInt(r.event_time),
      insertGroup: r.insert_group,
      status: r.status,
    }));
    return decideCopies(copies, new Set(uuids.map((u) => u.uuid)), this.options.insertIdWindowMicros);
  }

  /** Moves stored rows whose decision changed between `events` and `duplicates`. */
  private async applyStoredChanges(decisions: Map<EventCopy, CopyStatus>): Promise<MergeCounts> {
    const counts: MergeCounts = { rowsInserted: 0, duplicatesUuid: 0, duplicatesInsertId: 0, rowsSuperseded: 0, rowsRestored: 0 };
    const changed = [...decisions].filter(([copy, status]) => !copy.staged && copy.status !== status);
    if (changed.length === 0) return counts;
    const client = this.client;
    const schema = this.schema;
    await client.query(
      `CREATE TEMP TABLE changes ON COMMIT DROP AS
         SELECT c.upload_hour, c.entry_name, c.line_number, c.uuid, c.event_time, c.status AS old_status, ch.new_status
           FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[]) AS ch(entry_name, line_number, new_status, upload_hour)
           JOIN ${schema}.event_copies c ON c.upload_hour = ch.upload_hour::timestamptz
                AND c.entry_name = ch.entry_name AND c.line_number = ch.line_number`,
      [changed.map(([c]) => c.entry), changed.map(([c]) => c.line), changed.map(([, s]) => s), changed.map(([c]) => c.hour)],
    );
    const superseded = await client.query(
      `WITH moved AS (
         DELETE FROM ${schema}.events e USING changes ch
          WHERE ch.old_status = 'kept' AND ch.new_status <> 'kept' AND e.uuid = ch.uuid AND e.event_time = ch.event_time
         RETURNING e.*, ch.upload_hour AS copy_hour, ch.entry_name AS copy_entry, ch.line_number AS copy_line, ch.new_status AS copy_rule)
       INSERT INTO ${schema}.duplicates (${EVENT_COLUMN_LIST}, upload_hour, entry_name, line_number, rule)
       SELECT ${EVENT_COLUMN_LIST}, copy_hour, copy_entry, copy_line, copy_rule FROM moved`,
    );
    await this.options.partitions.ensure(
      await monthsOf(
        client,
        `(SELECT d.event_time FROM ${schema}.duplicates d JOIN changes ch ON ch.new_status = 'kept'
            AND d.upload_hour = ch.upload_hour AND d.entry_name = ch.entry_name AND d.line_number = ch.line_number) restoring`,
      ),
    );
    const restored = await client.query(
      `WITH moved AS (
         DELETE FROM ${schema}.duplicates d USING changes ch
          WHERE ch.old_status <> 'kept' AND ch.new_status = 'kept' AND d.upload_hour = ch.upload_hour
            AND d.entry_name = ch.entry_name AND d.line_number = ch.line_number
         RETURNING d.*)
       INSERT INTO ${schema}.events (${EVENT_COLUMN_LIST}) SELECT ${EVENT_COLUMN_LIST} FROM moved`,
    );
    await client.query(
      `UPDATE ${schema}.duplicates d SET rule = ch.new_status FROM changes ch
        WHERE ch.old_status <> 'kept' AND ch.new_status <> 'kept' AND d.upload_hour = ch.upload_hour
          AND d.entry_name = ch.entry_name AND d.line_number = ch.line_number`,
    );
    await client.query(
      `UPDATE ${schema}.event_copies c SET status = ch.new_status FROM changes ch
        WHERE c.upload_hour = ch.upload_hour AND c.entry_name = ch.entry_name AND c.line_number = ch.line_number`,
    );
    counts.rowsSuperseded = superseded.rowCount ?? 0;
    counts.rowsRestored = restored.rowCount ?? 0;
    return counts;
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
