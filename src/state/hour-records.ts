import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type CompiledQuery,
  type Generated,
  type RawBuilder,
} from 'kysely';
import type { HourCounters } from '../counters.js';
import { analystTable, loaderSchemaOf, loaderTable, type ProjectTarget } from '../db/loader-schema.js';
import { classifyDatabaseError } from '../errors.js';

export type HourStatus = 'loaded' | 'empty' | 'failed';

/** One row of `upload_hours`: what the loader knows of one upload hour. */
export interface UploadHoursTable {
  project: string;
  upload_hour: string;
  status: HourStatus;
  attempts: Generated<number>;
  events_read: Generated<number>;
  rows_inserted: Generated<number>;
  duplicates_uuid: Generated<number>;
  duplicates_insert_id: Generated<number>;
  rows_superseded: Generated<number>;
  rows_restored: Generated<number>;
  rejected_lines: Generated<number>;
  sanitized_values: Generated<number>;
  bytes_downloaded: Generated<number>;
  archive_entries: Generated<number>;
  entries_skipped: Generated<number>;
  started_at: string | null;
  finished_at: string | null;
  last_error: string | null;
  entry_names: string[] | null;
}

interface Tables {
  upload_hours: UploadHoursTable;
}

// Builds typed SQL only; each query runs on whatever client the caller holds (often mid-transaction).
const builder = new Kysely<Tables>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** A pool, a client, or an hour's transaction: anything that runs a parameterised query. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

async function run<R>(db: Queryable, query: CompiledQuery<R>): Promise<R[]> {
  const result = await db.query(query.sql, query.parameters as unknown[]);
  return result.rows as R[];
}

/** An hour-valued timestamptz as the text `Date.prototype.toISOString` gives for it. */
function isoHour<T extends string | null>(expression: RawBuilder<unknown>): RawBuilder<T> {
  return sql<T>`to_char((${expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00.000"Z"')`;
}

/** The project's rows of upload_hours, as a query to build on. */
function projectHours({ schema, project }: ProjectTarget) {
  return builder.withSchema(loaderSchemaOf(schema)).selectFrom('upload_hours').where('project', '=', project);
}

/** Loaded and empty hours within [first, last], by the hour's ISO timestamp. */
export async function finishedHours(db: Queryable, target: ProjectTarget, first: string, last: string): Promise<Set<string>> {
  try {
    const rows = await run(
      db,
      projectHours(target)
        .select(isoHour<string>(sql.ref('upload_hour')).as('hour'))
        .where('upload_hour', '>=', first)
        .where('upload_hour', '<=', last)
        .where('status', 'in', ['loaded', 'empty'])
        .compile(),
    );
    return new Set(rows.map((r) => r.hour));
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading which hours are loaded' });
  }
}

/** Records a loaded or empty hour. Runs inside the hour's transaction, so it commits with the rows. */
export async function recordHourDone(
  db: Queryable,
  { schema, project }: ProjectTarget,
  record: { hour: string; status: 'loaded' | 'empty'; attempts: number; startedAt: Date; counters: HourCounters; entryNames: readonly string[] },
): Promise<void> {
  const c = record.counters;
  const values = {
    status: record.status,
    events_read: c.eventsRead,
    rows_inserted: c.rowsInserted,
    duplicates_uuid: c.duplicatesUuid,
    duplicates_insert_id: c.duplicatesInsertId,
    rows_superseded: c.rowsSuperseded,
    rows_restored: c.rowsRestored,
    rejected_lines: c.rejectedLines,
    sanitized_values: c.sanitizedValues,
    bytes_downloaded: c.bytesDownloaded,
    archive_entries: c.archiveEntries,
    entries_skipped: c.entriesSkipped,
    started_at: record.startedAt.toISOString(),
    finished_at: sql<string>`clock_timestamp()`,
    last_error: null,
    entry_names: [...record.entryNames],
  };
  await run(
    db,
    builder
      .withSchema(loaderSchemaOf(schema))
      .insertInto('upload_hours')
      .values({ project, upload_hour: record.hour, attempts: record.attempts, ...values })
      .onConflict((oc) => oc.columns(['project', 'upload_hour']).doUpdateSet({ ...values, attempts: sql<number>`upload_hours.attempts + ${record.attempts}` }))
      .compile(),
  );
}

/** Whether an earlier load of the hour committed rows (a reload replaces them). */
export async function hourHasRows(db: Queryable, target: ProjectTarget, hour: string): Promise<boolean> {
  try {
    const rows = await run(db, projectHours(target).select('status').where('upload_hour', '=', hour).compile());
    return rows[0]?.status === 'loaded';
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading the state of the hour' });
  }
}

/**
 * Records a failed attempt at an hour, outside any hour transaction (that one rolled back). An hour
 * already loaded keeps its status and its rows, as a failed reload leaves them; only the error and the
 * attempts are noted.
 */
export async function recordHourFailed(
  db: Queryable,
  { schema, project }: ProjectTarget,
  record: { hour: string; attempts: number; startedAt: Date; error: string },
): Promise<void> {
  await run(
    db,
    builder
      .withSchema(loaderSchemaOf(schema))
      .insertInto('upload_hours')
      .values({
        project,
        upload_hour: record.hour,
        status: 'failed',
        attempts: record.attempts,
        started_at: record.startedAt.toISOString(),
        finished_at: sql<string>`clock_timestamp()`,
        last_error: record.error,
      })
      .onConflict((oc) =>
        oc.columns(['project', 'upload_hour']).doUpdateSet({
          attempts: sql<number>`upload_hours.attempts + ${record.attempts}`,
          finished_at: sql<string>`clock_timestamp()`,
          last_error: record.error,
        }),
      )
      .compile(),
  );
}

/**
 * Where a `--since-last` run starts: after the latest loaded or empty hour, or at the earliest failed
 * hour if that is sooner. Undefined when nothing is recorded.
 */
export async function resumeHour(db: Queryable, target: ProjectTarget): Promise<string | undefined> {
  try {
    const rows = await run(
      db,
      projectHours(target)
        .select([
          isoHour<string | null>(sql`max(upload_hour) FILTER (WHERE status IN ('loaded', 'empty')) + interval '1 hour'`).as('after_last_done'),
          isoHour<string | null>(
            sql`min(upload_hour) FILTER (WHERE status = 'failed')`,
          ).as('first_failed'),
        ])
        .compile(),
    );
    const { after_last_done: afterLastDone, first_failed: firstFailed } = rows[0] ?? { after_last_done: null, first_failed: null };
    return [afterLastDone, firstFailed].filter((h): h is string => h !== null).sort()[0];
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading where the last run stopped' });
  }
}

/** What `upload_hours` records for one hour, for the status grid. */
export interface HourRecord {
  hour: string;
  status: HourStatus;
  attempts: number;
  lastError: string | null;
}

/** Every recorded hour within [first, last], by its ISO timestamp. */
export async function hourRecords(db: Queryable, target: ProjectTarget, first: string, last: string): Promise<Map<string, HourRecord>> {
  try {
    const rows = await run(
      db,
      projectHours(target)
        .select([isoHour<string>(sql.ref('upload_hour')).as('hour'), 'status', 'attempts', 'last_error'])
        .where('upload_hour', '>=', first)
        .where('upload_hour', '<=', last)
        .compile(),
    );
    return new Map(rows.map((r) => [r.hour, { hour: r.hour, status: r.status, attempts: r.attempts, lastError: r.last_error }]));
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading the state of the hours' });
  }
}

/** What `upload_hours` says of the whole warehouse: its span, its failures, its recent days. */
export interface HoursOverview {
  /** The first and last loaded or empty hour, by ISO timestamp; null when none is. */
  firstDone: string | null;
  lastDone: string | null;
  counts: Record<HourStatus, number>;
  failures: HourRecord[];
  /** The last seven upload days that have hours, newest first. */
  recentDays: { day: string; hours: number; eventsRead: number; rowsInserted: number }[];
  /** Runs of hours neither loaded nor empty between firstDone and lastDone, oldest first, the first GAPS_LISTED of them. */
  gaps: { first: string; last: string; hours: number }[];
  /** All such runs, and the hours in them. */
  gapRanges: number;
  gapHours: number;
}

/** How many of a project's gaps the overview lists; their count and hours are all summed. */
export const GAPS_LISTED = 20;

/** The overview `status` shows without a range. Reads only `upload_hours` (one row per hour). */
export async function hoursOverview(db: Queryable, target: ProjectTarget): Promise<HoursOverview> {
  try {
    const [span] = await run(
      db,
      projectHours(target)
        .select([
          isoHour<string | null>(sql`min(upload_hour) FILTER (WHERE status IN ('loaded', 'empty'))`).as('first_done'),
          isoHour<string | null>(sql`max(upload_hour) FILTER (WHERE status IN ('loaded', 'empty'))`).as('last_done'),
          sql<number>`count(*) FILTER (WHERE status = 'loaded')::int`.as('loaded'),
          sql<number>`count(*) FILTER (WHERE status = 'empty')::int`.as('empty'),
          sql<number>`count(*) FILTER (WHERE status = 'failed')::int`.as('failed'),
        ])
        .compile(),
    );
    const failures = await run(
      db,
      projectHours(target)
        .select([isoHour<string>(sql.ref('upload_hour')).as('hour'), 'status', 'attempts', 'last_error'])
        .where('status', '=', 'failed')
        .orderBy('upload_hour')
        .compile(),
    );
    const days = await run(
      db,
      projectHours(target)
        .select([
          sql<string>`to_char(upload_hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')`.as('day'),
          sql<number>`count(*)::int`.as('hours'),
          sql<string>`sum(events_read)::text`.as('events_read'),
          sql<string>`sum(rows_inserted)::text`.as('rows_inserted'),
        ])
        .groupBy(sql`1`)
        .orderBy(sql`1`, 'desc')
        .limit(7)
        .compile(),
    );
    // Each done hour with the next one: where they are more than an hour apart, the hours between
    // are not loaded (never asked for, or failed). One pass over the project's hours, in index order.
    const { rows: gaps } = (await db.query(
      `SELECT to_char(first AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00.000"Z"') AS first,
              to_char(last AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00.000"Z"') AS last,
              hours::int AS hours, count(*) OVER ()::int AS ranges, (sum(hours) OVER ())::bigint::text AS total
         FROM (SELECT upload_hour + interval '1 hour' AS first, next - interval '1 hour' AS last,
                      (extract(epoch FROM next - upload_hour) / 3600)::bigint - 1 AS hours
                 FROM (SELECT upload_hour, lead(upload_hour) OVER (ORDER BY upload_hour) AS next
                         FROM ${loaderTable(target.schema, 'upload_hours')} WHERE project = $1 AND status IN ('loaded', 'empty')) d
                WHERE next > upload_hour + interval '1 hour') g
        ORDER BY first LIMIT ${GAPS_LISTED}`,
      [target.project],
    )) as { rows: { first: string; last: string; hours: number; ranges: number; total: string }[] };
    return {
      gaps: gaps.map((g) => ({ first: g.first, last: g.last, hours: g.hours })),
      gapRanges: gaps[0]?.ranges ?? 0,
      gapHours: Number(gaps[0]?.total ?? 0),
      firstDone: span?.first_done ?? null,
      lastDone: span?.last_done ?? null,
      counts: { loaded: span?.loaded ?? 0, empty: span?.empty ?? 0, failed: span?.failed ?? 0 },
      failures: failures.map((r) => ({ hour: r.hour, status: r.status, attempts: r.attempts, lastError: r.last_error })),
      recentDays: days.map((d) => ({ day: d.day, hours: d.hours, eventsRead: Number(d.events_read), rowsInserted: Number(d.rows_inserted) })),
    };
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading the state of the hours' });
  }
}

/** The projects that have recorded hours in this warehouse, by name. */
export async function recordedProjects(db: Queryable, schema: string): Promise<string[]> {
  try {
    const result = await db.query(`SELECT DISTINCT project FROM ${loaderTable(schema, 'upload_hours')} ORDER BY project`);
    return (result.rows as { project: string }[]).map((r) => r.project);
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading which projects are loaded' });
  }
}

/**
 * About how many rows the warehouse's tables hold, from the planner's statistics (counting would read
 * every row): `events` over all its partitions, `duplicates`, `rejects`. Null before a table's first
 * ANALYZE.
 */
export async function estimatedRows(db: Queryable, schema: string): Promise<Record<'events' | 'duplicates' | 'rejects', number | null>> {
  try {
    const result = await db.query(
      `SELECT (SELECT sum(c.reltuples) FILTER (WHERE c.reltuples >= 0)
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1))::float8 AS events,
              (SELECT nullif(reltuples, -1) FROM pg_class WHERE oid = to_regclass($2))::float8 AS duplicates,
              (SELECT nullif(reltuples, -1) FROM pg_class WHERE oid = to_regclass($3))::float8 AS rejects`,
      [analystTable(schema, 'events'), loaderTable(schema, 'duplicates'), loaderTable(schema, 'rejects')],
    );
    const row = result.rows[0] as Record<'events' | 'duplicates' | 'rejects', number | null>;
    return { events: row.events, duplicates: row.duplicates, rejects: row.rejects };
  } catch (error) {
    throw classifyDatabaseError(error, { doing: 'reading the size of the warehouse' });
  }
}
