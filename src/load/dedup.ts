import type pg from 'pg';
import type { DedupCounters } from '../counters.js';
import { analystTable, loaderSchemaOf, loaderTable } from '../db/loader-schema.js';
import { rowsFor, unchangedRowsOf } from './lookups.js';
import { recordRowsEntering, recordRowsLeaving, type HourTransaction } from './rollups.js';
import { quoteIdentifier } from '../db/pool.js';
import { DatabaseError } from '../errors.js';
import type { RegisteredProject } from '../state/projects.js';
import { EVENTS_COPY_COLUMNS } from '../transform/entry-lines.js';
import { EVENTS_TABLE_COLUMNS } from '../transform/event-columns.js';
import { decideCopies, type CopyStatus, type EventCopy, type TimeRange } from './dedup-rule.js';
import type { PartitionManager } from './partitions.js';
import { monthOfMicros } from '../transform/utc-calendar.js';
import { createHourTables } from './hour-tables.js';

/**
 * Deduplication of one upload hour against everything stored, at a cost that does not grow with the
 * warehouse. The hour's rows are already in `events` (COPY wrote them to their partitions); then:
 *
 * - probe, outside any lock: each row's uuid, and its insert group near its event_time, in
 *   `event_keys`, one narrow row per event (two btree descents of 4-byte hashes). Keys nobody else
 *   holds are recorded there at once; the rest are contested.
 * - settle, under the dedup lock: the keys other hours merged since the probe (`recent_merges`, a
 *   hash join of this hour's keys with theirs) join the contested ones; every copy of each contested
 *   uuid and every member of each contested group near the contested times is fetched and decided by
 *   the rule (dedup-rule.ts); the few rows whose decision changed move between `events` and
 *   `duplicates`.
 *
 * So an hour's work is its own rows times a probe each, plus what it contests; the lock covers the
 * catch-up, the contested rows and the commit.
 */

/** How many contested uuids, or groups, are decided together: what bounds the memory of an hour's settle. */
const SETTLE_CHUNK = 500;

/** How many of the last merges `recent_merges` keeps; an hour that probed before all of them contests everything. */
const RECENT_MERGES_KEPT = 32;

export interface DedupOptions {
  /** Whose keys: a project's rows are only ever compared with its own. */
  readonly project: RegisteredProject;
  readonly hourLabel: string;
  /** The upload hour as an ISO timestamp. */
  readonly hour: string;
  /** This load's transaction: its `loaded_at` tells the rows it wrote from an earlier load's (a reload); its id, its rollup changes. */
  readonly transaction: HourTransaction;
  /** The insert_id window in microseconds; null turns the rule off. */
  readonly windowMicros: bigint | null;
  /** True when an earlier load of this hour committed: its rows are replaced. */
  readonly replacing: boolean;
  /** The session's lock_timeout: how long the dedup lock is waited for before the hour fails (retryable). */
  readonly lockWaitSeconds: number;
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

/** The hour since the epoch (UTC) a timestamptz falls in: how event_keys places a representative. */
const hourOf = (column: string) => `floor(extract(epoch FROM ${column}) / 3600)::integer`;
const hourStart = (hour: string) => `('epoch'::timestamptz + (${hour}) * interval '1 hour')`;
/** A uuid's row in a project's keys table, found through the index of its 4-byte hash. */
const keyOf = (alias: string, uuid: string) => `uuid_hash(${alias}.uuid) = uuid_hash(${uuid}) AND ${alias}.uuid = ${uuid}`;
const micros = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;
// Whole seconds and the microseconds left apart: an interval multiplies by double precision, which
// holds microseconds since 1970 exactly only up to about 2255, seconds up to any year there is.
const fromMicros = (value: string) =>
  `('epoch'::timestamptz + ((${value})::bigint / 1000000) * interval '1 second' + ((${value})::bigint % 1000000) * interval '1 microsecond')`;

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
  private readonly events: string;
  private readonly duplicates: string;
  private readonly recentMerges: string;
  private readonly keys: string;
  private readonly group: (alias: string) => string;
  /** The window in whole hours, rounded up: event_keys keeps hours, so its probes take a little more. */
  private readonly windowHours: number;
  private probeSeq = '0';
  private stagedRows = 0;
  /** Whether the probe held any of the hour's rows back from the rollups until settling has decided them. */
  heldBack = false;
  private mergeRow = '';

  constructor(
    private readonly client: pg.ClientBase,
    private readonly options: DedupOptions,
  ) {
    const { schema } = options.project;
    this.events = analystTable(schema, 'events');
    this.duplicates = loaderTable(schema, 'duplicates');
    this.recentMerges = loaderTable(schema, 'recent_merges');
    this.keys = options.project.keysTable;
    this.group = (alias) => `${loaderTable(schema, 'insert_group')}(${alias}.app, ${alias}.device_id, ${alias}.user_id, ${alias}.insert_id)`;
    this.windowHours = Number(((options.windowMicros ?? 0n) + 3_599_999_999n) / 3_600_000_000n);
  }

  private query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(text, values);
  }

  /** For a reload, before the COPY: the rejects an earlier load of this hour filed. */
  async removeEarlierRejects(): Promise<void> {
    await this.query(`DELETE FROM ${loaderTable(this.options.project.schema, 'rejects')} WHERE project = $2 AND upload_hour = $1`, [
      this.options.hour,
      this.options.project.project,
    ]);
  }

  /** Of a reload: the earlier load's rows, in events and duplicates; and how many of them are unchanged now. */
  private earlier = { rows: 0, unchanged: 0, unchangedKept: 0 };

  /**
   * For a reload, after the COPY and outside the lock: each row this load wrote that an earlier load of
   * the hour wrote the same (same entry and line, every column equal) is deleted again, and its key
   * taken out of the hour's: the earlier row stays where dedup put it, with its key and what the
   * rollups counted of it. So an unchanged archive contests nothing, and a changed one only its
   * changes. Counts the earlier rows through the upload_hour BRIN and compares each key's new and
   * earlier copies by index probes (unchangedRowsOf), whatever the history or its statistics.
   */
  async keepUnchanged(): Promise<void> {
    const same = (fresh: string, earlier: string) =>
      [...EVENTS_TABLE_COLUMNS].map((c) => `${earlier}.${quoteIdentifier(c)} IS NOT DISTINCT FROM ${fresh}.${quoteIdentifier(c)}`).join(' AND ');
    const columns = ['uuid', 'archive_entry', 'archive_line', ...EVENTS_TABLE_COLUMNS.filter((c) => c !== 'uuid')].map(quoteIdentifier).join(', ');
    const params = [this.options.hour, this.options.project.project, this.options.transaction.loadedAt];
    // The hour's rows are found through the upload_hour BRIN: a partition filled moments ago has no
    // statistics yet, and a sequential scan of all of it then looks as cheap.
    await this.query('SET LOCAL enable_seqscan = off');
    const { rows } = await this.query<{ rows: number }>(
      `SELECT ((SELECT count(*) FROM ${this.events} WHERE project = $2 AND upload_hour = $1 AND loaded_at <> $3)
             + (SELECT count(*) FROM ${this.duplicates} WHERE project = $2 AND upload_hour = $1))::int AS rows`,
      params,
    );
    this.earlier.rows = rows[0]?.rows ?? 0;
    if (this.earlier.rows === 0) {
      await this.query('RESET enable_seqscan');
      return;
    }
    const { rowCount } = await this.query(
      `WITH ${unchangedRowsOf(this.options.project.distributed, 'same', this.events, this.duplicates, columns, same)},
            gone AS (DELETE FROM ${this.events} n USING same
                      WHERE n.project = $2 AND n.upload_hour = $1 AND n.loaded_at = $3 AND n.uuid = same.uuid AND n.event_time = same.event_time
                        AND n.archive_entry = same.archive_entry AND n.archive_line = same.archive_line
                      RETURNING n.uuid, n.archive_entry, n.archive_line, same.place)
       INSERT INTO unchanged SELECT * FROM gone`,
      params,
    );
    await this.query('RESET enable_seqscan');
    this.earlier.unchanged = rowCount ?? 0;
    const { rows: kept } = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM unchanged WHERE place = 'events'`);
    this.earlier.unchangedKept = kept[0]?.n ?? 0;
    if (this.earlier.unchanged > 0) {
      await this.query(
        `DELETE FROM stage_keys s USING unchanged u WHERE s.uuid = u.uuid AND s.archive_entry = u.archive_entry AND s.archive_line = u.archive_line`,
      );
    }
  }

  /**
   * For a reload, under the lock: removes the rows and dropped copies an earlier load of this hour left
   * that this one did not find unchanged (the rows this load wrote, told by their loaded_at, stay) and
   * remembers the representatives among them, whose uuids and groups are then decided again. Under
   * the lock, because other hours' settling moves this hour's rows between events and duplicates;
   * walks the upload_hour index of each partition. An archive found unchanged whole removes nothing.
   */
  private async removeEarlierLoad(): Promise<void> {
    if (this.earlier.unchanged === this.earlier.rows) return;
    // Under the lock above all, the hour's rows are read through the upload_hour BRIN (keepUnchanged).
    await this.query('SET LOCAL enable_seqscan = off');
    const params = [this.options.hour, this.options.project.project, this.options.transaction.loadedAt];
    const removeEvents = (which: string, values: unknown[]) =>
      this.query(
        `WITH gone AS (DELETE FROM ${this.events} e ${which} RETURNING e.*),
              ${recordRowsLeaving(this.options.project.schema, 'gone')}
         INSERT INTO removed SELECT uuid, event_time, ${this.group('gone')}, 'kept' FROM gone`,
        values,
      );
    const removeDuplicates = (which: string, values: unknown[]) =>
      this.query(
        `WITH gone AS (DELETE FROM ${this.duplicates} d ${which} RETURNING d.uuid, d.event_time, ${this.group('d')}, d.rule)
         INSERT INTO removed SELECT * FROM gone`,
        values,
      );
    if (this.earlier.unchanged === 0) {
      await removeEvents('WHERE e.project = $2 AND e.upload_hour = $1 AND e.loaded_at <> $3', params);
      await removeDuplicates('WHERE d.project = $2 AND d.upload_hour = $1', params.slice(0, 2));
    } else {
      // The earlier rows not found unchanged, deleted by their keys a chunk at a time: a distributed
      // DELETE (Citus) cannot read this session's temporary tables, but takes keys as parameters.
      const unchanged = (alias: string) =>
        `LEFT JOIN unchanged u ON u.uuid = ${alias}.uuid AND u.archive_entry = ${alias}.archive_entry AND u.archive_line = ${alias}.archive_line`;
      await this.query(
        `INSERT INTO earlier_changed (n, place, uuid, t, archive_entry, archive_line)
         SELECT row_number() OVER () AS n, c.* FROM (
           SELECT 'events' AS place, e.uuid, e.event_time::text AS t, e.archive_entry, e.archive_line FROM ${this.events} e ${unchanged('e')}
            WHERE e.project = $2 AND e.upload_hour = $1 AND e.loaded_at <> $3 AND u.uuid IS NULL
           UNION ALL
           SELECT 'duplicates', d.uuid, d.event_time::text, d.archive_entry, d.archive_line FROM ${this.duplicates} d ${unchanged('d')}
            WHERE d.project = $2 AND d.upload_hour = $1 AND u.uuid IS NULL) c`,
        params,
      );
      // Times travel as PostgreSQL's own text of them (the session is in UTC): exact for any year, and a
      // parameter, not an expression on a column, which Citus refuses in a distributed DELETE.
      const byKeys = (alias: string) =>
        `USING unnest($3::uuid[], $4::timestamptz[], $5::int[], $6::int[]) AS m(uuid, t, entry, line)
         WHERE ${alias}.project = $2 AND ${alias}.upload_hour = $1 AND ${alias}.uuid = m.uuid AND ${alias}.event_time = m.t
           AND ${alias}.archive_entry = m.entry AND ${alias}.archive_line = m.line`;
      // Each key through the uuid index (or duplicates' key): the upload_hour BRIN would read the whole hour for every chunk.
      await this.query('SET LOCAL enable_bitmapscan = off');
      for (let from = 1; ; from += SETTLE_CHUNK) {
        const { rows } = await this.query<{ place: string; uuid: string; t: string; archive_entry: number; archive_line: number }>(
          `SELECT place, uuid::text, t, archive_entry, archive_line FROM earlier_changed WHERE n >= $1 AND n < $2`,
          [from, from + SETTLE_CHUNK],
        );
        if (rows.length === 0) break;
        for (const [place, remove] of [['events', removeEvents], ['duplicates', removeDuplicates]] as const) {
          const chunk = rows.filter((r) => r.place === place);
          if (chunk.length === 0) continue;
          await remove(byKeys(place === 'events' ? 'e' : 'd'), [
            this.options.hour,
            this.options.project.project,
            chunk.map((r) => r.uuid),
            chunk.map((r) => r.t),
            chunk.map((r) => r.archive_entry),
            chunk.map((r) => r.archive_line),
          ]);
        }
      }
      await this.query('RESET enable_bitmapscan');
    }
    await this.query('RESET enable_seqscan');
    await this.query(
      `WITH added AS (INSERT INTO contested_uuids SELECT uuid FROM removed WHERE status <> 'uuid' ON CONFLICT DO NOTHING RETURNING uuid)
       INSERT INTO staged_contested SELECT * FROM stage_keys WHERE uuid IN (SELECT uuid FROM added)`,
    );
    await this.query(`INSERT INTO contested_points SELECT grp, event_time FROM removed WHERE grp IS NOT NULL AND status <> 'uuid'`);
  }

  /** Where the hour's rows' keys are COPYed (`KEYS_COPY_COLUMNS`), beside the rows themselves. */
  readonly keysTable = 'stage_keys';

  /** The hour's temporary tables (hour-tables.ts), before the COPY. */
  async createTables(): Promise<void> {
    await this.query(createHourTables(this.options.project.schema));
  }

  /**
   * After the COPY, outside the lock: probes the history for each of the hour's keys, records the keys
   * nobody contests, and notes what this hour touches for hours that probe meanwhile.
   */
  async probe(): Promise<void> {
    const hour = this.options.hour;
    const project = this.options.project.project;
    const { rows: seq } = await this.query<{ seq: string }>(
      `SELECT coalesce(max(merge_seq), 0)::text AS seq FROM ${this.recentMerges} WHERE project = $1`,
      [project],
    );
    this.probeSeq = seq[0]?.seq ?? '0';
    const { rows: staged } = await this.query<{ n: number }>('SELECT count(*)::int AS n FROM stage_keys');
    this.stagedRows = staged[0]?.n ?? 0;

    // Each look into the history is a LATERAL subquery fenced by LIMIT or OFFSET 0 (so it is not
    // flattened into a join): it runs once per key of this hour, through the one index its conditions
    // fit, and the planner cannot hash or sort the history instead (a partition growing faster than
    // autovacuum analyzes it misleads the estimates). Joins among this hour's own keys stay free to hash.
    // A probe finds one key or none: a plain index scan, not a bitmap built for each of them. The keys
    // are probed, and inserted, in their index's order: each leaf page of a btree larger than
    // shared_buffers is then read once an hour, not once for each of its keys.
    await this.query('SET LOCAL enable_bitmapscan = off');
    await this.query(
      `INSERT INTO contested_uuids
         SELECT uuid FROM stage_keys GROUP BY uuid HAVING count(*) > 1
         UNION SELECT s.uuid FROM (SELECT uuid FROM stage_keys ORDER BY uuid_hash(uuid)) s,
                LATERAL (SELECT 1 FROM ${this.keys} k WHERE ${keyOf('k', 's.uuid')} LIMIT 1) stored`,
    );
    if (this.options.windowMicros !== null) {
      // Before this hour's keys go in, so a probe finds only other hours' representatives.
      await this.query(
        `INSERT INTO contested_points
           SELECT s.grp, s.event_time
             FROM (SELECT grp, grp_hash, event_time, event_hour FROM stage_keys WHERE grp IS NOT NULL ORDER BY grp_hash, event_hour) s,
                  LATERAL (SELECT 1 FROM ${this.keys} k
                            WHERE k.group_hash = s.grp_hash
                              AND k.event_hour BETWEEN s.event_hour - ${this.windowHours} AND s.event_hour + ${this.windowHours} LIMIT 1) stored
           UNION ALL SELECT grp, event_time FROM stage_keys WHERE grp IN (SELECT grp FROM stage_keys GROUP BY grp HAVING count(*) > 1)`,
      );
    }
    await this.query(
      `INSERT INTO ${this.keys} (uuid, event_hour, group_hash)
         SELECT s.uuid, s.event_hour, s.grp_hash FROM stage_keys s WHERE NOT EXISTS (SELECT 1 FROM contested_uuids c WHERE c.uuid = s.uuid)
          ORDER BY uuid_hash(s.uuid)`,
    );
    await this.query('RESET enable_bitmapscan');
    // This hour's copies of what the probe contests, apart, before the lock: settling joins these few,
    // and under the lock only what a catch-up adds is copied out of stage_keys.
    await this.query(`INSERT INTO staged_contested SELECT * FROM stage_keys WHERE uuid IN (SELECT uuid FROM contested_uuids)`);
    await this.stageMembers();
    // What settling may move out of events is counted by the rollups only once it has stayed (rollups.ts).
    const { rowCount: heldBack } = await this.query(
      `INSERT INTO held_back SELECT * FROM staged_contested UNION ALL SELECT * FROM staged_members ON CONFLICT DO NOTHING`,
    );
    this.heldBack = (heldBack ?? 0) > 0;

    const { rows } = await this.query<{ id: string }>(
      `INSERT INTO ${this.recentMerges} (project, upload_hour, uuid_hashes, group_hashes)
       SELECT $2, $1,
              ARRAY(SELECT uuid_hash(uuid) FROM stage_keys),
              ARRAY(SELECT grp_hash FROM stage_keys WHERE grp IS NOT NULL)
       RETURNING id::text`,
      [hour, project],
    );
    this.mergeRow = rows[0]?.id ?? '';
  }

  /**
   * Takes the dedup lock, waiting at most --lock-wait: only one hour at a time settles contested keys
   * against what others committed. Held until the hour commits. While another hour holds it, this one
   * waits for that hour to commit without queueing for the lock (a share lock on the same row, in a
   * savepoint rolled back as soon as it is granted), catches up with what it merged outside the lock,
   * and tries again: under the lock there is then only the catch-up with hours that merged in between.
   */
  async lock(): Promise<void> {
    const projects = loaderTable(this.options.project.schema, 'projects');
    const project = this.options.project.project;
    const deadline = Date.now() + this.options.lockWaitSeconds * 1000;
    for (;;) {
      await this.catchUp();
      await this.stageMembers();
      const { rowCount } = await this.query(`SELECT 1 FROM ${projects} WHERE project = $1 FOR UPDATE SKIP LOCKED`, [project]);
      if (rowCount) return;
      const left = deadline - Date.now();
      if (left <= 0) throw this.lockNotGranted();
      // SET LOCAL inside the savepoint ends with it.
      await this.query(`SAVEPOINT dedup_lock_wait; SET LOCAL lock_timeout = ${Math.ceil(left)}`);
      try {
        await this.query(`SELECT 1 FROM ${projects} WHERE project = $1 FOR KEY SHARE`, [project]);
      } catch (error) {
        // A connection that failed cannot roll back: the original error says what happened.
        await this.query('ROLLBACK TO SAVEPOINT dedup_lock_wait').catch(() => {});
        throw (error as { code?: string }).code === '55P03' ? this.lockNotGranted(error) : error;
      }
      await this.query('ROLLBACK TO SAVEPOINT dedup_lock_wait');
    }
  }

  private lockNotGranted(cause?: unknown): DatabaseError {
    return new DatabaseError(
      `hour ${this.options.hourLabel}: waited ${this.options.lockWaitSeconds} s (--lock-wait) for the dedup lock ` +
        `of project ${this.options.project.project} (its row in ${loaderSchemaOf(this.options.project.schema)}.projects), which another loader holds while it settles contested keys`,
      { retryable: true, sqlState: '55P03', hour: this.options.hourLabel, cause },
    );
  }

  /**
   * Under the lock: adds what other hours merged since the probe, decides every contested key, moves
   * the rows whose decision changed, and numbers this merge. Returns what it did and the merge number.
   *
   * Contested keys are decided a bounded number at a time, so memory does not grow with the hour: first
   * each contested uuid's representative (rule 1) and the times its copies add to their groups; then
   * the groups, a chunk at a time, each contested uuid settled with the group of its representative;
   * last, the contested uuids whose representative has no group.
   */
  async settle(): Promise<{ counts: DedupCounters; mergeSeq: string }> {
    const project = this.options.project.project;
    if (this.options.replacing) await this.removeEarlierLoad();
    await this.catchUp();
    const window = this.options.windowMicros;
    const { rows: contestedRows } = await this.query<{ uuid: string }>('SELECT uuid::text FROM contested_uuids ORDER BY uuid');
    const contested = contestedRows.map((r) => r.uuid);
    // The earlier load's rows found unchanged stay: those in events are this hour's rows as much as new ones.
    const counts: DedupCounters = { rowsInserted: this.stagedRows + this.earlier.unchangedKept, duplicatesUuid: 0, duplicatesInsertId: 0, rowsSuperseded: 0, rowsRestored: 0 };
    const add = (part: DedupCounters) => {
      for (const key of Object.keys(part) as (keyof DedupCounters)[]) counts[key] += part[key];
    };

    // Each contested uuid's home: the group of its representative (none without the insert_id rule).
    for (let at = 0; at < contested.length; at += SETTLE_CHUNK) {
      const uuids = contested.slice(at, at + SETTLE_CHUNK);
      const copies = await this.copiesOf(uuids);
      const { statuses } = decideCopies(copies, { uuids: new Set(uuids), groups: new Map() }, window);
      const representatives = [...statuses].filter(([, status]) => status === 'kept').map(([copy]) => copy);
      const homes = new Map<string, string | null>(uuids.map((u) => [u, null]));
      if (window !== null) for (const copy of representatives) homes.set(copy.uuid, copy.group);
      const grouped = copies.filter((c) => c.group !== null && window !== null);
      await this.query(
        `WITH homes AS (INSERT INTO contested_homes SELECT * FROM unnest($1::uuid[], $2::text[]))
         INSERT INTO contested_points SELECT grp, ${fromMicros('t')} FROM unnest($3::text[], $4::text[]) AS p(grp, t)`,
        [[...homes.keys()], [...homes.values()], grouped.map((c) => c.group), grouped.map((c) => String(c.eventTime))],
      );
    }

    if (window !== null) {
      const { rows: chunkCount } = await this.query<{ n: number }>(
        `WITH g AS (INSERT INTO contested_groups (grp, first, last, chunk)
                      SELECT grp, ${micros('min(event_time)')} AS first, ${micros('max(event_time)')} AS last,
                             (row_number() OVER (ORDER BY grp) - 1) / ${SETTLE_CHUNK} AS chunk
                        FROM contested_points GROUP BY grp
                      RETURNING chunk)
         SELECT coalesce(max(chunk) + 1, 0)::int AS n FROM g`,
      );
      await this.stageMembers();
      const contestedSet = new Set(contested);
      for (let chunk = 0; chunk < (chunkCount[0]?.n ?? 0); chunk++) {
        const { rows: groupRows } = await this.query<{ grp: string; first: string; last: string }>(
          `SELECT grp, first, last FROM contested_groups WHERE chunk = $1`,
          [chunk],
        );
        const ranges = new Map<string, TimeRange>(groupRows.map((g) => [g.grp, { from: BigInt(g.first) - window, to: BigInt(g.last) + window }]));
        const { rows: homeRows } = await this.query<{ uuid: string }>(
          `SELECT h.uuid::text FROM contested_homes h JOIN contested_groups g USING (grp) WHERE g.chunk = $1`,
          [chunk],
        );
        const home = new Set(homeRows.map((r) => r.uuid));
        for (;;) {
          const members = await this.membersOf(ranges);
          const uuids = new Set([...home, ...members.map((m) => m.uuid).filter((u) => contestedSet.has(u))]);
          const copies = await this.copiesOf([...uuids]);
          const decisions = decideCopies([...copies, ...members], { uuids, groups: ranges }, window);
          if (decisions.widen.size === 0) {
            // A contested uuid settles here only if this is its home; elsewhere it was decided only to
            // know which of its copies are members.
            const settled = new Map([...decisions.statuses].filter(([copy]) => !uuids.has(copy.uuid) || home.has(copy.uuid)));
            add(await this.apply(settled, home));
            break;
          }
          for (const [group, range] of decisions.widen) ranges.set(group, hull(ranges.get(group), range));
        }
      }
    }

    const { rows: homeless } = await this.query<{ uuid: string }>(`SELECT uuid::text FROM contested_homes WHERE grp IS NULL ORDER BY uuid`);
    for (let at = 0; at < homeless.length; at += SETTLE_CHUNK) {
      const uuids = homeless.slice(at, at + SETTLE_CHUNK).map((r) => r.uuid);
      const { statuses } = decideCopies(await this.copiesOf(uuids), { uuids: new Set(uuids), groups: new Map() }, window);
      add(await this.apply(statuses, new Set(uuids)));
    }

    // The merge's number; the keys noted before the lock keep their (TOASTed) arrays under it, what was
    // settled since (a reload's removed keys, the groups decided) goes in a row of its own. One statement:
    // each round trip under the lock waits on a loader busy with other hours.
    const { rows } = await this.query<{ seq: string }>(
      `WITH seq AS MATERIALIZED (SELECT nextval($4::regclass) AS n),
            numbered AS (UPDATE ${this.recentMerges} SET merge_seq = (SELECT n FROM seq) WHERE id = $1),
            settled AS (INSERT INTO ${this.recentMerges} (project, merge_seq, upload_hour, uuid_hashes, group_hashes)
                        SELECT $3, (SELECT n FROM seq), $2, ARRAY(SELECT uuid_hash(uuid) FROM removed), ARRAY(SELECT DISTINCT hashtext(grp) FROM contested_points)
                         WHERE EXISTS (SELECT 1 FROM contested_points) OR EXISTS (SELECT 1 FROM removed)),
            pruned AS (DELETE FROM ${this.recentMerges} WHERE project = $3 AND merge_seq <= (SELECT n FROM seq) - $5)
       SELECT n::text AS seq FROM seq`,
      [this.mergeRow, this.options.hour, project, loaderTable(this.options.project.schema, 'hour_merge_seq'), RECENT_MERGES_KEPT],
    );
    const mergeSeq = rows[0]?.seq as string;
    return { counts, mergeSeq };
  }

  /**
   * The keys of hours merged since the probe (or the last catch-up) that this hour also has (by hash:
   * a collision only contests more). Before the lock, for the hours that merged while this one copied
   * or waited, and once under it, for the few that merged in between: merge_seq is given under the
   * lock, so every merge up to the newest one seen is committed and none is missed.
   */
  private async catchUp(): Promise<void> {
    const project = this.options.project.project;
    const { rows } = await this.query<{ oldest: string | null; newest: string | null }>(
      `SELECT min(merge_seq)::text AS oldest, max(merge_seq)::text AS newest FROM ${this.recentMerges} WHERE project = $1`,
      [project],
    );
    const { oldest, newest } = rows[0] ?? { oldest: null, newest: null };
    if (oldest === null || newest === null || BigInt(newest) <= BigInt(this.probeSeq)) return;
    const since = this.probeSeq;
    this.probeSeq = newest;
    if (BigInt(oldest) > BigInt(since) + 1n) {
      // Merges since the probe may have been pruned: contest every key of this hour.
      await this.contestStaged('SELECT * FROM stage_keys');
      await this.query(`INSERT INTO contested_points SELECT grp, event_time FROM stage_keys WHERE grp IS NOT NULL`);
      return;
    }
    const merged = `merge_seq > $1 AND merge_seq <= $3`;
    await this.contestStaged(
      `SELECT s.* FROM stage_keys s
         JOIN (SELECT DISTINCT unnest(uuid_hashes) AS h FROM ${this.recentMerges} WHERE project = $2 AND ${merged}) r ON r.h = uuid_hash(s.uuid)`,
      [since, project, newest],
    );
    if (this.options.windowMicros !== null) {
      await this.query(
        `INSERT INTO contested_points
           SELECT s.grp, s.event_time FROM stage_keys s
             JOIN (SELECT DISTINCT unnest(group_hashes) AS h FROM ${this.recentMerges} WHERE project = $2 AND ${merged}) r ON r.h = s.grp_hash
            WHERE s.grp IS NOT NULL`,
        [since, project, newest],
      );
    }
  }

  /**
   * Contests the uuids of `hits`, rows of stage_keys that hold every copy of each of their uuids, and
   * copies the hour's rows of those newly contested to staged_contested: one pass over stage_keys.
   */
  private contestStaged(hits: string, values?: unknown[]): Promise<unknown> {
    return this.query(
      `WITH hit AS MATERIALIZED (${hits}),
            added AS (INSERT INTO contested_uuids SELECT DISTINCT uuid FROM hit ON CONFLICT DO NOTHING RETURNING uuid)
       INSERT INTO staged_contested SELECT * FROM hit WHERE uuid IN (SELECT uuid FROM added)`,
      values,
    );
  }

  /**
   * Copies the hour's members of each contested group not looked for yet to staged_members. Before the
   * lock for what the probe and the catch-ups contested, under it only for the groups settling adds;
   * with none, stage_keys is not read (the hash join ends on its empty side).
   */
  private async stageMembers(): Promise<void> {
    if (this.options.windowMicros === null) return;
    await this.query(
      `WITH wanted AS (INSERT INTO member_groups SELECT DISTINCT grp FROM contested_points p WHERE NOT EXISTS (SELECT 1 FROM member_groups m WHERE m.grp = p.grp)
                       RETURNING grp)
       INSERT INTO staged_members SELECT * FROM stage_keys WHERE grp IN (SELECT grp FROM wanted)`,
    );
  }

  private rowsFor(outer: string, table: string, alias: string, condition: string): string {
    return rowsFor(this.options.project.distributed, outer, table, alias, condition);
  }

  private copyColumns(alias: string, place: EventCopy['place'], status: string, hour: string): string {
    return `'${place}' AS place, ${status} AS status, ${micros(hour)} AS hour, ${alias}.archive_entry AS entry, ${alias}.archive_line AS line,
            ${alias}.uuid::text AS uuid, ${micros(`${alias}.server_upload_time`)} AS server_upload_time, ${micros(`${alias}.event_time`)} AS event_time`;
  }

  /**
   * Every copy of these uuids: this load's (staged), the kept row (where event_keys says: another
   * hour's, or an earlier load's of this hour found unchanged), the dropped ones.
   */
  private async copiesOf(uuids: readonly string[]): Promise<EventCopy[]> {
    if (uuids.length === 0) return [];
    const { rows } = await this.query<CopyRow>(
      `WITH c AS (SELECT DISTINCT uuid FROM unnest($2::uuid[]) AS c(uuid)),
            kept AS (SELECT c.uuid, k.event_hour FROM c,
                       LATERAL (SELECT DISTINCT k.event_hour FROM ${this.keys} k WHERE ${keyOf('k', 'c.uuid')} OFFSET 0) k)
       SELECT ${this.copyColumns('s', 'staged', 'NULL', '$1::timestamptz')}, s.grp FROM staged_contested s JOIN c USING (uuid)
       UNION ALL
       SELECT ${this.copyColumns('e', 'events', `'kept'`, 'e.upload_hour')}, ${this.group('e')}
         FROM ${this.rowsFor('kept', this.events, 'e', `e.uuid = kept.uuid AND e.event_time >= ${hourStart('kept.event_hour')} AND e.event_time < ${hourStart('kept.event_hour + 1')}
                                   AND e.project = $3 AND (e.upload_hour <> $1 OR e.loaded_at <> $4)`)}
       UNION ALL
       SELECT ${this.copyColumns('d', 'duplicates', 'd.rule', 'd.upload_hour')}, ${this.group('d')}
         FROM ${this.rowsFor('c', this.duplicates, 'd', 'd.uuid = c.uuid AND d.project = $3')}`,
      [this.options.hour, uuids, this.options.project.project, this.options.transaction.loadedAt],
    );
    return rows.map(toCopy);
  }

  /**
   * The representatives of each group within its range widened by the window: other hours' (found by
   * the group's hash in event_keys, then their row in events or duplicates, whose group is checked)
   * and this hour's.
   */
  private async membersOf(ranges: ReadonlyMap<string, TimeRange>): Promise<EventCopy[]> {
    const window = this.options.windowMicros ?? 0n;
    const groups = [...ranges.keys()];
    const from = groups.map((g) => String((ranges.get(g) as TimeRange).from - window));
    const to = groups.map((g) => String((ranges.get(g) as TimeRange).to + window));
    const { rows } = await this.query<CopyRow>(
      `WITH g AS (SELECT grp, hashtext(grp) AS grp_hash, ${fromMicros('lo')} AS lo, ${fromMicros('hi')} AS hi
                    FROM unnest($2::text[], $3::text[], $4::text[]) AS g(grp, lo, hi)),
            k AS (SELECT g.grp, g.lo, g.hi, k.uuid FROM g,
                    LATERAL (SELECT uuid FROM ${this.keys} k
                              WHERE k.group_hash = g.grp_hash AND k.event_hour BETWEEN ${hourOf('g.lo')} AND ${hourOf('g.hi')} OFFSET 0) k)
       SELECT ${this.copyColumns('e', 'events', `'kept'`, 'e.upload_hour')}, k.grp
         FROM ${this.rowsFor('k', this.events, 'e', `e.uuid = k.uuid AND e.event_time BETWEEN k.lo AND k.hi AND e.project = $5 AND (e.upload_hour <> $1 OR e.loaded_at <> $6) AND ${this.group('e')} = k.grp`)}
       UNION ALL
       SELECT ${this.copyColumns('d', 'duplicates', 'd.rule', 'd.upload_hour')}, k.grp
         FROM ${this.rowsFor('k', this.duplicates, 'd', `d.uuid = k.uuid AND d.event_time BETWEEN k.lo AND k.hi AND d.project = $5 AND d.rule = 'insert_id' AND ${this.group('d')} = k.grp`)}
       UNION ALL
       SELECT ${this.copyColumns('s', 'staged', 'NULL', '$1::timestamptz')}, g.grp
         FROM g JOIN staged_members s ON s.grp = g.grp AND s.event_time BETWEEN g.lo AND g.hi`,
      [this.options.hour, groups, from, to, this.options.project.project, this.options.transaction.loadedAt],
    );
    return rows.map(toCopy);
  }

  /** Moves the rows whose decision changed, and points each contested uuid's key at its representative. */
  private async apply(statuses: ReadonlyMap<EventCopy, CopyStatus>, contestedUuids: ReadonlySet<string>): Promise<DedupCounters> {
    const project = this.options.project.project;
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
    // A DELETE cannot be fenced like the probes: the moves below are kept to index nested loops from
    // the few rows that move, else the planner may sort or hash a whole partition to find them.
    await this.query('SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off');
    // Upload hours are whole hours, which a Date holds exactly; sent as timestamptz, the conditions
    // compare columns with no function on them (Citus refuses a STABLE function on a column in UPDATE).
    const identify = (list: EventCopy[]) => [list.map((c) => new Date(Number(c.hour / 1000n)).toISOString()), list.map((c) => c.entry), list.map((c) => c.line)];
    if (leaving.length > 0) {
      const copies = leaving.map(([c]) => c);
      await this.query(
        `WITH m AS (SELECT uuid, ${fromMicros('t')} AS event_time, h AS upload_hour, entry, line, rule, project
                      FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::text[]) AS m(uuid, t, h, entry, line, rule, project)),
              -- Through the uuid index alone: IS NOT DISTINCT FROM keeps the upload_hour index out, which
              -- stale statistics would otherwise pick, reading the whole hour for every row. The project
              -- comes as a column of each row, not a constant: a constant filter on a partition not yet
              -- analyzed looks selective, and the planner would materialize the whole partition.
              moved AS (DELETE FROM ${this.events} e USING m
                         WHERE e.uuid = m.uuid AND e.event_time = m.event_time AND e.upload_hour IS NOT DISTINCT FROM m.upload_hour
                           AND e.archive_entry = m.entry AND e.archive_line = m.line AND e.project = m.project
                         RETURNING ${EVENTS_COPY_COLUMNS.map((c) => `e.${quoteIdentifier(c)}`).join(', ')}, m.rule),
              -- This hour's rows held back were never counted: they leave the rollups nothing to take back,
              -- and are not counted after settling either. counted reads held_back before released changes
              -- it: one snapshot on one server; on Citus, which runs a statement's CTEs one after another,
              -- each seeing the writes of those before, by coming first and never being inlined.
              counted AS MATERIALIZED (SELECT * FROM moved m
                           WHERE NOT (m.upload_hour = $8 AND m.loaded_at = $9
                                      AND EXISTS (SELECT 1 FROM held_back h WHERE h.archive_entry = m.archive_entry AND h.archive_line = m.archive_line))),
              released AS (DELETE FROM held_back h USING moved m
                            WHERE m.upload_hour = $8 AND m.loaded_at = $9 AND h.archive_entry = m.archive_entry AND h.archive_line = m.archive_line),
              ${recordRowsLeaving(this.options.project.schema, 'counted', 'moved')}
         INSERT INTO ${this.duplicates} (${columns}, rule) SELECT * FROM moved`,
        [
          copies.map((c) => c.uuid),
          copies.map((c) => String(c.eventTime)),
          ...identify(copies),
          leaving.map(([, s]) => s),
          copies.map(() => project),
          this.options.hour,
          this.options.transaction.loadedAt,
        ],
      );
    }
    if (returning.length > 0) {
      const months = new Set(returning.map((c) => monthOfMicros(c.eventTime)));
      await this.options.partitions.ensure(months);
      await this.query(
        `WITH moved AS (DELETE FROM ${this.duplicates} d
                         USING unnest($1::timestamptz[], $2::int[], $3::int[], $5::uuid[]) AS m(h, entry, line, uuid)
                         WHERE d.project = $4 AND d.upload_hour = m.h AND d.archive_entry = m.entry AND d.archive_line = m.line
                           AND d.uuid = m.uuid
                         RETURNING ${EVENTS_COPY_COLUMNS.map((c) => `d.${quoteIdentifier(c)}`).join(', ')}),
              ${recordRowsEntering(this.options.project.schema, 'moved', '$6::xid8')}
         INSERT INTO ${this.events} (${columns}) SELECT * FROM moved`,
        [...identify(returning), project, returning.map((c) => c.uuid), this.options.transaction.xid],
      );
    }
    if (relabelled.length > 0) {
      const copies = relabelled.map(([c]) => c);
      await this.query(
        `UPDATE ${this.duplicates} d SET rule = m.rule
           FROM unnest($1::timestamptz[], $2::int[], $3::int[], $4::text[], $6::uuid[]) AS m(h, entry, line, rule, uuid)
          WHERE d.project = $5 AND d.upload_hour = m.h AND d.archive_entry = m.entry AND d.archive_line = m.line
            AND d.uuid = m.uuid`,
        [...identify(copies), relabelled.map(([, s]) => s), project, copies.map((c) => c.uuid)],
      );
    }
    if (contestedUuids.size > 0) {
      const reps = [...representatives.values()];
      // One statement: its DELETE sees the keys as they were before it, not the ones it inserts.
      await this.query(
        `WITH gone AS (DELETE FROM ${this.keys} k USING unnest($4::uuid[]) AS c(uuid) WHERE ${keyOf('k', 'c.uuid')})
         INSERT INTO ${this.keys} (uuid, event_hour, group_hash)
         SELECT uuid, ${hourOf(fromMicros('t'))}, hashtext(grp) FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(uuid, t, grp)`,
        [reps.map((c) => c.uuid), reps.map((c) => String(c.eventTime)), reps.map((c) => c.group), [...contestedUuids]],
      );
    }
    await this.query('RESET enable_hashjoin; RESET enable_mergejoin');
    const stagedLeaving = leaving.filter(([c]) => c.place === 'staged');
    return {
      // This hour's rows were all inserted by the COPY; those that leave again are subtracted.
      rowsInserted: -stagedLeaving.length,
      duplicatesUuid: stagedLeaving.filter(([, s]) => s === 'uuid').length,
      duplicatesInsertId: stagedLeaving.filter(([, s]) => s === 'insert_id').length,
      rowsSuperseded: leaving.length - stagedLeaving.length,
      rowsRestored: returning.length,
    };
  }
}
