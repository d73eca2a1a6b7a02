import type pg from 'pg';
import type { DedupCounters } from '../counters.js';
import { quoteIdentifier } from '../db/pool.js';
import { DatabaseError } from '../errors.js';
import { EVENTS_COPY_COLUMNS } from '../transform/entry-lines.js';
import { decideCopies, type CopyStatus, type EventCopy, type TimeRange } from './dedup-rule.js';
import { monthOfMicros, partitionMonth, type PartitionManager } from './partitions.js';

/**
 * Deduplication of one upload hour against everything stored, at a cost that does not grow with the
 * warehouse. The hour's rows are already in `events` (COPY wrote them to their partitions); then:
 *
 * - probe, outside any lock: each row's uuid in `event_keys` (a hash probe, one bucket page) and, when
 *   it has an insert group, the kept members of that group within the window (a hash probe of the
 *   group index in the one or two partitions the window spans). Keys nobody else holds are recorded
 *   in `event_keys` at once; the rest are contested.
 * - settle, under the dedup lock: the keys other hours merged since the probe (`recent_merges`, a
 *   hash join of this hour's keys with theirs) join the contested ones; every copy of each contested
 *   uuid and every member of each contested group near the contested times is fetched and decided by
 *   the rule (dedup-rule.ts); the few rows whose decision changed move between `events` and
 *   `duplicates`.
 *
 * So an hour's work is its own rows times a probe each, plus what it contests; the lock covers the
 * catch-up, the contested rows and the commit.
 */

/** Merges older than this are pruned; an hour that probed longer ago than half of it contests everything. */
const RECENT_MERGES_HOURS = 24;

export interface DedupOptions {
  readonly schema: string;
  readonly hourLabel: string;
  /** The upload hour as an ISO timestamp. */
  readonly hour: string;
  /** The insert_id window in microseconds; null turns the rule off. */
  readonly windowMicros: bigint | null;
  /** How long to wait for the dedup lock before the hour fails (retryable). */
  readonly lockWaitMs: number;
  readonly partitions: PartitionManager;
}

interface CopyRow {
  place: EventCopy['place'];
  status: CopyStatus | null;
  hour: string;
  entry: number;
  line: number;
  uuid: string;
  server_upload_time: string | null;
  event_time: string;
  grp: string | null;
}

const micros = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;
const fromMicros = (value: string) => `('epoch'::timestamptz + (${value})::bigint * interval '1 microsecond')`;

function toCopy(row: CopyRow): EventCopy {
  return {
    place: row.place,
    status: row.status,
    hour: BigInt(row.hour),
    entry: row.entry,
    line: row.line,
    uuid: row.uuid,
    serverUploadTime: row.server_upload_time === null ? null : BigInt(row.server_upload_time),
    eventTime: BigInt(row.event_time),
    group: row.grp,
  };
}

function hull(a: TimeRange | undefined, b: TimeRange): TimeRange {
  return a === undefined ? b : { from: a.from < b.from ? a.from : b.from, to: a.to > b.to ? a.to : b.to };
}

export class HourDedup {
  private readonly schema: string;
  private readonly group: (alias: string) => string;
  private readonly window: string;
  private probeSeq = '0';
  private probedAt = 0;
  private stagedRows = 0;
  private mergeRow = '';

  constructor(
    private readonly client: pg.ClientBase,
    private readonly options: DedupOptions,
  ) {
    this.schema = quoteIdentifier(options.schema);
    this.group = (alias) => `${this.schema}.insert_group(${alias}.app, ${alias}.device_id, ${alias}.user_id, ${alias}.insert_id)`;
    this.window = `(${options.windowMicros ?? 0n}::bigint * interval '1 microsecond')`;
  }

  private query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(text, values);
  }

  /**
   * For a reload, before the COPY: removes what an earlier load of this hour left (its rows, its
   * dropped copies, its rejects) and remembers the representatives among them, whose uuids and groups
   * must then be decided again. Walks the upload_hour index of each partition.
   */
  async removeEarlierLoad(): Promise<void> {
    const hour = this.options.hour;
    await this.query(
      `WITH gone AS (DELETE FROM ${this.schema}.events e WHERE e.upload_hour = $1 RETURNING e.uuid, e.event_time, ${this.group('e')}, 'kept')
       INSERT INTO removed SELECT * FROM gone`,
      [hour],
    );
    await this.query(
      `WITH gone AS (DELETE FROM ${this.schema}.duplicates d WHERE d.upload_hour = $1 RETURNING d.uuid, d.event_time, ${this.group('d')}, d.rule)
       INSERT INTO removed SELECT * FROM gone`,
      [hour],
    );
    await this.query(`DELETE FROM ${this.schema}.rejects WHERE upload_hour = $1`, [hour]);
  }

  /** The hour's temporary tables; `removed` exists before the COPY so a reload can fill it. */
  async createTables(): Promise<void> {
    await this.query(`CREATE TEMP TABLE removed (uuid uuid, event_time timestamptz, grp text, status text) ON COMMIT DROP`);
  }

  /**
   * After the COPY, outside the lock: reads the hour's keys back from its rows (the upload_hour index
   * of the months it wrote), probes the history for each, records the keys nobody contests, and notes
   * what this hour touches for hours that probe meanwhile.
   */
  async probe(months: ReadonlySet<string>): Promise<void> {
    const schema = this.schema;
    const hour = this.options.hour;
    const ranges = [...months].map(partitionMonth);
    const inMonths = ranges.length === 0 ? 'false' : ranges.map((_, i) => `(event_time >= $${2 * i + 2} AND event_time < $${2 * i + 3})`).join(' OR ');
    const { rows: seq } = await this.query<{ seq: string; now: string }>(
      `SELECT coalesce(max(merge_seq), 0)::text AS seq, extract(epoch FROM clock_timestamp())::text AS now FROM ${schema}.recent_merges`,
    );
    this.probeSeq = seq[0]?.seq ?? '0';
    this.probedAt = Number(seq[0]?.now);
    const staged = await this.query(
      `CREATE TEMP TABLE stage_keys ON COMMIT DROP AS
         SELECT uuid, event_time, server_upload_time, archive_entry, archive_line, ${this.group('e')} AS grp
           FROM ${schema}.events e WHERE upload_hour = $1 AND (${inMonths})`,
      [hour, ...ranges.flatMap((m) => [m.from, m.to])],
    );
    this.stagedRows = staged.rowCount ?? 0;
    await this.query(`CREATE TEMP TABLE contested_uuids (uuid uuid PRIMARY KEY) ON COMMIT DROP`);
    await this.query(`CREATE TEMP TABLE contested_points (grp text NOT NULL, event_time timestamptz NOT NULL) ON COMMIT DROP`);

    // Every probe and fetch starts from this hour's rows and walks an index of the history: never let
    // the planner hash or sort the history instead (a table growing faster than autovacuum analyzes
    // it misleads the estimates). Only the catch-up joins two small sets, by hashing.
    await this.query('SET LOCAL enable_hashjoin = off');
    await this.query('SET LOCAL enable_mergejoin = off');
    await this.query(
      `INSERT INTO contested_uuids
         SELECT uuid FROM stage_keys GROUP BY uuid HAVING count(*) > 1
         UNION SELECT s.uuid FROM stage_keys s WHERE EXISTS (SELECT 1 FROM ${schema}.event_keys k WHERE k.uuid = s.uuid)
         UNION SELECT uuid FROM removed WHERE status <> 'uuid'`,
    );
    await this.query(
      `INSERT INTO ${schema}.event_keys (uuid, event_time)
         SELECT s.uuid, s.event_time FROM stage_keys s WHERE NOT EXISTS (SELECT 1 FROM contested_uuids c WHERE c.uuid = s.uuid)`,
    );
    if (this.options.windowMicros !== null) {
      await this.query(
        `INSERT INTO contested_points
           SELECT s.grp, s.event_time FROM stage_keys s
            WHERE s.grp IS NOT NULL AND (
              EXISTS (SELECT 1 FROM ${schema}.events e
                       WHERE ${this.group('e')} = s.grp AND e.upload_hour <> $1
                         AND e.event_time BETWEEN s.event_time - ${this.window} AND s.event_time + ${this.window})
              OR EXISTS (SELECT 1 FROM ${schema}.duplicates d
                          WHERE ${this.group('d')} = s.grp AND d.rule = 'insert_id'
                            AND d.event_time BETWEEN s.event_time - ${this.window} AND s.event_time + ${this.window}))
           UNION ALL SELECT grp, event_time FROM stage_keys WHERE grp IN (SELECT grp FROM stage_keys GROUP BY grp HAVING count(*) > 1)
           UNION ALL SELECT grp, event_time FROM removed WHERE grp IS NOT NULL AND status <> 'uuid'`,
        [hour],
      );
    }

    const { rows } = await this.query<{ id: string }>(
      `INSERT INTO ${schema}.recent_merges (upload_hour, uuids, group_hashes)
       SELECT $1,
              ARRAY(SELECT uuid FROM stage_keys UNION SELECT uuid FROM removed),
              ARRAY(SELECT hashtextextended(grp, 0) FROM stage_keys WHERE grp IS NOT NULL
                    UNION SELECT hashtextextended(grp, 0) FROM removed WHERE grp IS NOT NULL)
       RETURNING id::text`,
      [hour],
    );
    this.mergeRow = rows[0]?.id ?? '';
  }

  /**
   * Takes the dedup lock, waiting at most `lockWaitMs`: only one hour at a time settles contested keys
   * against what others committed. Held until the hour commits.
   */
  async lock(): Promise<void> {
    const { rows } = await this.query<{ timeout: string }>(`SELECT current_setting('lock_timeout') AS timeout`);
    await this.query(`SELECT set_config('lock_timeout', $1, true)`, [`${Math.max(1, Math.round(this.options.lockWaitMs))}ms`]);
    try {
      await this.query(`SELECT 1 FROM ${this.schema}.dedup_lock WHERE id = 1 FOR UPDATE`);
    } catch (error) {
      if ((error as { code?: string }).code === '55P03') {
        throw new DatabaseError(
          `hour ${this.options.hourLabel}: waited ${(this.options.lockWaitMs / 1000).toFixed(0)} s for the dedup lock ` +
            `(${this.options.schema}.dedup_lock), which another loader holds while it settles contested keys`,
          { retryable: true, sqlState: '55P03', hour: this.options.hourLabel, cause: error },
        );
      }
      throw error;
    }
    await this.query(`SELECT set_config('lock_timeout', $1, true)`, [rows[0]?.timeout ?? '0']);
  }

  /**
   * Under the lock: adds what other hours merged since the probe, decides every contested key, moves
   * the rows whose decision changed, and numbers this merge. Returns what it did and the merge number.
   */
  async settle(): Promise<{ counts: DedupCounters; mergeSeq: string }> {
    const schema = this.schema;
    await this.catchUp();
    const { rows: uuidRows } = await this.query<{ uuid: string }>('SELECT uuid::text FROM contested_uuids');
    const contestedUuids = new Set(uuidRows.map((r) => r.uuid));
    const copies = contestedUuids.size === 0 ? [] : await this.copiesOfContestedUuids();

    // Ranges of each contested group: around every contested time, and every time a copy of a
    // contested uuid is at (its representative may change).
    const window = this.options.windowMicros;
    const ranges = new Map<string, TimeRange>();
    if (window !== null) {
      const { rows: points } = await this.query<{ grp: string; event_time: string }>(
        `SELECT grp, ${micros('event_time')} AS event_time FROM contested_points`,
      );
      const seeds = [...points.map((p) => ({ group: p.grp, time: BigInt(p.event_time) })), ...copies.filter((c) => c.group !== null).map((c) => ({ group: c.group as string, time: c.eventTime }))];
      for (const seed of seeds) ranges.set(seed.group, hull(ranges.get(seed.group), { from: seed.time - window, to: seed.time + window }));
    }

    let counts: DedupCounters;
    for (;;) {
      const members = ranges.size === 0 ? [] : await this.membersOf(ranges);
      const decisions = decideCopies([...copies, ...members], { uuids: contestedUuids, groups: ranges }, window);
      if (decisions.widen.size === 0) {
        counts = await this.apply(decisions.statuses, contestedUuids);
        break;
      }
      for (const [group, range] of decisions.widen) ranges.set(group, hull(ranges.get(group), range));
    }
    const { rows } = await this.query<{ seq: string }>(`SELECT nextval('${schema}.hour_merge_seq'::regclass)::text AS seq`);
    const mergeSeq = rows[0]?.seq as string;
    await this.query(
      `UPDATE ${schema}.recent_merges SET merge_seq = $2,
              group_hashes = group_hashes || ARRAY(SELECT hashtextextended(g, 0) FROM unnest($3::text[]) g)
        WHERE id = $1`,
      [this.mergeRow, mergeSeq, [...ranges.keys()]],
    );
    await this.query(`DELETE FROM ${schema}.recent_merges WHERE merged_at < clock_timestamp() - make_interval(hours => $1)`, [RECENT_MERGES_HOURS]);
    return { counts, mergeSeq };
  }

  /** The keys of hours merged since the probe that this hour also has. */
  private async catchUp(): Promise<void> {
    const schema = this.schema;
    const { rows } = await this.query<{ now: string }>(`SELECT extract(epoch FROM clock_timestamp())::text AS now`);
    if (Number(rows[0]?.now) - this.probedAt > (RECENT_MERGES_HOURS / 2) * 3600) {
      // Merges this hour did not see may have been pruned: contest all of its keys.
      await this.query(`INSERT INTO contested_uuids SELECT DISTINCT uuid FROM stage_keys ON CONFLICT DO NOTHING`);
      await this.query(`INSERT INTO contested_points SELECT grp, event_time FROM stage_keys WHERE grp IS NOT NULL`);
      return;
    }
    await this.query('SET LOCAL enable_hashjoin = on');
    await this.query(
      `INSERT INTO contested_uuids
         SELECT DISTINCT s.uuid FROM stage_keys s
           JOIN (SELECT unnest(uuids) AS uuid FROM ${schema}.recent_merges WHERE merge_seq > $1) r ON r.uuid = s.uuid
       ON CONFLICT DO NOTHING`,
      [this.probeSeq],
    );
    if (this.options.windowMicros !== null) {
      await this.query(
        `INSERT INTO contested_points
           SELECT s.grp, s.event_time FROM stage_keys s
             JOIN (SELECT DISTINCT unnest(group_hashes) AS h FROM ${schema}.recent_merges WHERE merge_seq > $1) r
               ON r.h = hashtextextended(s.grp, 0)
            WHERE s.grp IS NOT NULL`,
        [this.probeSeq],
      );
    }
    await this.query('SET LOCAL enable_hashjoin = off');
  }

  private copyColumns(alias: string, place: EventCopy['place'], status: string, hour: string): string {
    return `'${place}' AS place, ${status} AS status, ${micros(hour)} AS hour, ${alias}.archive_entry AS entry, ${alias}.archive_line AS line,
            ${alias}.uuid::text AS uuid, ${micros(`${alias}.server_upload_time`)} AS server_upload_time, ${micros(`${alias}.event_time`)} AS event_time`;
  }

  /** Every copy of each contested uuid: this hour's, the kept row (where event_keys says), the dropped ones. */
  private async copiesOfContestedUuids(): Promise<EventCopy[]> {
    const schema = this.schema;
    const { rows } = await this.query<CopyRow>(
      `SELECT ${this.copyColumns('s', 'staged', 'NULL', '$1::timestamptz')}, s.grp FROM stage_keys s JOIN contested_uuids c USING (uuid)
       UNION ALL
       SELECT ${this.copyColumns('e', 'events', `'kept'`, 'e.upload_hour')}, ${this.group('e')}
         FROM (SELECT DISTINCT k.uuid, k.event_time FROM ${schema}.event_keys k JOIN contested_uuids c USING (uuid)) k
         JOIN ${schema}.events e ON e.uuid = k.uuid AND e.event_time = k.event_time AND e.upload_hour <> $1
       UNION ALL
       SELECT ${this.copyColumns('d', 'duplicates', 'd.rule', 'd.upload_hour')}, ${this.group('d')}
         FROM ${schema}.duplicates d JOIN contested_uuids c USING (uuid)`,
      [this.options.hour],
    );
    return rows.map(toCopy);
  }

  /** The representatives of each group within its range widened by the window: kept rows, copies the rule dropped, this hour's. */
  private async membersOf(ranges: ReadonlyMap<string, TimeRange>): Promise<EventCopy[]> {
    const schema = this.schema;
    const window = this.options.windowMicros ?? 0n;
    const groups = [...ranges.keys()];
    const from = groups.map((g) => String((ranges.get(g) as TimeRange).from - window));
    const to = groups.map((g) => String((ranges.get(g) as TimeRange).to + window));
    const { rows } = await this.query<CopyRow>(
      `WITH g AS (SELECT grp, ${fromMicros('lo')} AS lo, ${fromMicros('hi')} AS hi FROM unnest($2::text[], $3::text[], $4::text[]) AS g(grp, lo, hi))
       SELECT ${this.copyColumns('e', 'events', `'kept'`, 'e.upload_hour')}, g.grp
         FROM g JOIN ${schema}.events e ON ${this.group('e')} = g.grp AND e.event_time BETWEEN g.lo AND g.hi AND e.upload_hour <> $1
       UNION ALL
       SELECT ${this.copyColumns('d', 'duplicates', 'd.rule', 'd.upload_hour')}, g.grp
         FROM g JOIN ${schema}.duplicates d ON ${this.group('d')} = g.grp AND d.rule = 'insert_id' AND d.event_time BETWEEN g.lo AND g.hi
       UNION ALL
       SELECT ${this.copyColumns('s', 'staged', 'NULL', '$1::timestamptz')}, g.grp
         FROM g JOIN stage_keys s ON s.grp = g.grp AND s.event_time BETWEEN g.lo AND g.hi`,
      [this.options.hour, groups, from, to],
    );
    return rows.map(toCopy);
  }

  /** Moves the rows whose decision changed, and points each contested uuid's key at its representative. */
  private async apply(statuses: ReadonlyMap<EventCopy, CopyStatus>, contestedUuids: ReadonlySet<string>): Promise<DedupCounters> {
    const schema = this.schema;
    const leaving: [EventCopy, CopyStatus][] = [];
    const returning: EventCopy[] = [];
    const relabelled: [EventCopy, CopyStatus][] = [];
    const representatives = new Map<string, EventCopy>();
    for (const [copy, status] of statuses) {
      if (status !== 'uuid' && contestedUuids.has(copy.uuid)) representatives.set(copy.uuid, copy);
      if (copy.place === 'duplicates') {
        if (status === 'kept') returning.push(copy);
        else if (status !== copy.status) relabelled.push([copy, status]);
      } else if (status !== 'kept') {
        leaving.push([copy, status]);
      }
    }
    const columns = EVENTS_COPY_COLUMNS.map(quoteIdentifier).join(', ');
    const identify = (list: EventCopy[]) => [list.map((c) => String(c.hour)), list.map((c) => c.entry), list.map((c) => c.line)];
    if (leaving.length > 0) {
      const copies = leaving.map(([c]) => c);
      await this.query(
        `WITH m AS (SELECT uuid, ${fromMicros('t')} AS event_time, ${fromMicros('h')} AS upload_hour, entry, line, rule
                      FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[]) AS m(uuid, t, h, entry, line, rule)),
              moved AS (DELETE FROM ${schema}.events e USING m
                         WHERE e.uuid = m.uuid AND e.event_time = m.event_time AND e.upload_hour = m.upload_hour
                           AND e.archive_entry = m.entry AND e.archive_line = m.line
                         RETURNING ${EVENTS_COPY_COLUMNS.map((c) => `e.${quoteIdentifier(c)}`).join(', ')}, m.rule)
         INSERT INTO ${schema}.duplicates (${columns}, rule) SELECT * FROM moved`,
        [copies.map((c) => c.uuid), copies.map((c) => String(c.eventTime)), ...identify(copies), leaving.map(([, s]) => s)],
      );
    }
    if (returning.length > 0) {
      const months = new Set(returning.map((c) => monthOfMicros(c.eventTime)));
      await this.options.partitions.ensure([...months].map(partitionMonth));
      await this.query(
        `WITH moved AS (DELETE FROM ${schema}.duplicates d
                         USING unnest($1::text[], $2::int[], $3::int[]) AS m(h, entry, line)
                         WHERE d.upload_hour = ${fromMicros('m.h')} AND d.archive_entry = m.entry AND d.archive_line = m.line
                         RETURNING ${EVENTS_COPY_COLUMNS.map((c) => `d.${quoteIdentifier(c)}`).join(', ')})
         INSERT INTO ${schema}.events (${columns}) SELECT * FROM moved`,
        identify(returning),
      );
    }
    if (relabelled.length > 0) {
      const copies = relabelled.map(([c]) => c);
      await this.query(
        `UPDATE ${schema}.duplicates d SET rule = m.rule
           FROM unnest($1::text[], $2::int[], $3::int[], $4::text[]) AS m(h, entry, line, rule)
          WHERE d.upload_hour = ${fromMicros('m.h')} AND d.archive_entry = m.entry AND d.archive_line = m.line`,
        [...identify(copies), relabelled.map(([, s]) => s)],
      );
    }
    if (contestedUuids.size > 0) {
      const reps = [...representatives.values()];
      await this.query(`DELETE FROM ${schema}.event_keys WHERE uuid = ANY($1::uuid[])`, [[...contestedUuids]]);
      await this.query(
        `INSERT INTO ${schema}.event_keys (uuid, event_time) SELECT uuid, ${fromMicros('t')} FROM unnest($1::uuid[], $2::text[]) AS k(uuid, t)`,
        [reps.map((c) => c.uuid), reps.map((c) => String(c.eventTime))],
      );
    }
    const stagedLeaving = leaving.filter(([c]) => c.place === 'staged');
    return {
      rowsInserted: this.stagedRows - stagedLeaving.length,
      duplicatesUuid: stagedLeaving.filter(([, s]) => s === 'uuid').length,
      duplicatesInsertId: stagedLeaving.filter(([, s]) => s === 'insert_id').length,
      rowsSuperseded: leaving.length - stagedLeaving.length,
      rowsRestored: returning.length,
    };
  }
}
