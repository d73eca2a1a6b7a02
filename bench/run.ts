/**
 * `npm run bench`: the real loader against the COPY ceiling and the ELT baseline, side by side in one
 * run on one machine. Compare the ratios; absolute times move with whatever else the machine does.
 *
 *   npm run bench                          # quick: 150k events in 6 hours, about a minute
 *   npm run bench -- --events 1000000      # the full run
 *   npm run bench -- --transform-threads 2 # the loader with its lines encoded on two worker threads
 *   npm run bench -- --hour-mb 2000        # one 2 GB hour, for the loader's memory
 *   npm run bench -- --history 3000000     # 120 hours of 25k in order: does an hour cost more as history grows?
 *   npm run bench -- --queries 1000000     # analysts' questions with and without the secondary indexes, and what they cost the load
 *   npm run bench -- --citus 1000000       # the loader on a local Citus coordinator and two workers, and on one server
 *   npm run bench -- --lines               # the transform on one line of each kind of content, 1 MB and 50 MB (--line-mb)
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { citusBinaries, createClusterDatabase, startCitusCluster } from '../src/db/local-citus-cluster.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { PartitionManager } from '../src/load/partitions.js';
import { utcMonthOf, type MonthIndex } from '../src/transform/utc-calendar.js';
import { EVENTS_COPY_COLUMNS } from '../src/transform/entry-lines.js';
import { EVENT_COLUMNS } from '../src/transform/event-columns.js';
import { LocalExportApi } from '../src/demo/local-export-api.js';
import { generateExport, type GeneratedExport } from './generate-export.js';
import { runTransformScaling } from './transform-scaling.js';
import { runLineCosts } from './line-cost.js';
import { postgresCpuSeconds } from './postgres-cpu.js';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
// The server the bench creates its database on (dropped and made anew each run).
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const GENERATOR_VERSION = 6;
const HISTORY_HOUR_EVENTS = 25_000;

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '150000' },
    hours: { type: 'string' },
    'hour-mb': { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    'transform-threads': { type: 'string' },
    json: { type: 'string' },
    only: { type: 'string' },
    history: { type: 'string' },
    queries: { type: 'string' },
    citus: { type: 'string' },
    lines: { type: 'boolean' },
    'transform-scaling': { type: 'boolean' },
    'line-mb': { type: 'string', default: '50' },
  },
});

interface Measured {
  name: string;
  seconds: number;
  postgresCpuSeconds: number;
}

async function timed(name: string, action: () => Promise<void>): Promise<Measured> {
  const cpuBefore = await postgresCpuSeconds();
  const started = performance.now();
  await action();
  const seconds = (performance.now() - started) / 1000;
  return { name, seconds, postgresCpuSeconds: (await postgresCpuSeconds()) - cpuBefore };
}

async function freshDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8'`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Generates the export once per size; a later run of the same size reuses it. */
async function exportFor(events: number, hours: number): Promise<GeneratedExport> {
  const directory = join(tmpdir(), `amplitude-pg-bench-v${GENERATOR_VERSION}-${events}-${hours}`);
  const manifest = join(directory, 'manifest.json');
  try {
    const saved = JSON.parse(await readFile(manifest, 'utf8')) as GeneratedExport & { archives: [string, string][] };
    return { ...saved, archives: new Map(saved.archives) };
  } catch {
    await rm(directory, { recursive: true, force: true });
  }
  const generated = await generateExport(directory, events, hours);
  await writeFile(manifest, JSON.stringify({ ...generated, archives: [...generated.archives] }));
  // Gigabytes just written are still being flushed: let that finish before anything is timed.
  execFileSync('sync');
  return generated;
}

/** Months from a day before the first hour to a day after the last: every event_time of the export. */
function monthsAround(generated: GeneratedExport): MonthIndex[] {
  const monthOf = (label: string, days: number) => utcMonthOf(new Date(Date.UTC(+label.slice(0, 4), +label.slice(4, 6) - 1, +label.slice(6, 8) + days, +label.slice(9))).toISOString());
  const months: MonthIndex[] = [];
  for (let month = monthOf(generated.firstHour, -1); month <= monthOf(generated.lastHour, 1); month++) months.push(month);
  return months;
}

async function prepareSchema(pool: pg.Pool, schema: string, generated: GeneratedExport): Promise<void> {
  await migrate(pool, schema);
  await new PartitionManager(pool, schema).ensure(monthsAround(generated));
}

/** One `hour` line of the loader's JSON log. */
interface HourLine {
  seconds: number;
  stage_seconds: Record<string, number>;
}

interface LoaderRun extends Measured {
  summary: Record<string, number>;
  stages: Record<string, number>;
  /** In the order the hours finished. */
  hours: HourLine[];
}

async function runLoader(api: LocalExportApi, url: string, generated: GeneratedExport, concurrency: number, extra: readonly string[] = [], name = 'loader'): Promise<LoaderRun> {
  let summary: Record<string, number> = {};
  const stages: Record<string, number> = {};
  const hours: HourLine[] = [];
  const measured = await timed(name, async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'load', '--range', `${generated.firstHour}..${generated.lastHour}`, '--concurrency', String(concurrency), '--log-format', 'json', ...extra],
      {
        env: { PATH: process.env.PATH ?? '', AMPLITUDE_API_KEY: 'test-api-key', AMPLITUDE_SECRET_KEY: 'test-secret-key', AMPLITUDE_EXPORT_URL: api.url, DATABASE_URL: url },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let pending = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.event === 'hour') {
          hours.push(entry as unknown as HourLine);
          for (const [stage, seconds] of Object.entries(entry.stage_seconds as Record<string, number>)) stages[stage] = (stages[stage] ?? 0) + seconds;
        } else if (entry.event === 'summary') {
          summary = entry as unknown as Record<string, number>;
        } else if (entry.event === 'hour_failed' || entry.event === 'retry') {
          process.stderr.write(`${line}\n`);
        }
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`the loader exited with ${code}`);
  });
  return { ...measured, summary, stages, hours };
}

/** Share of the hours' wall time spent holding the dedup lock (settling and committing; the rollups fold after). */
function lockShare(hours: readonly HourLine[]): number {
  const held = hours.reduce((sum, h) => sum + (h.stage_seconds.settle ?? 0) + (h.stage_seconds.commit ?? 0), 0);
  return held / hours.reduce((sum, h) => sum + h.seconds, 0);
}

/** Bytes of the events partitions, and of what dedup keeps beside them. */
async function storage(pool: pg.Pool, schema: string): Promise<{ lines: string[]; events: number; bookkeeping: number }> {
  const size = async (sql: string) => Number((await pool.query<{ bytes: string | null }>(sql)).rows[0]?.bytes ?? 0);
  const ofChildren = (parent: string, measure: string) =>
    size(`SELECT sum(${measure}(inhrelid))::text AS bytes FROM pg_inherits WHERE inhparent = '${schema}.${parent}'::regclass`);
  const partitions = await ofChildren('events', 'pg_total_relation_size');
  const hourIndex = await ofChildren('events_upload_hour_idx', 'pg_relation_size');
  const keys = await size(`SELECT pg_total_relation_size('${schema}_loader.event_keys_1')::text AS bytes`);
  const merges = await size(`SELECT pg_total_relation_size('${schema}_loader.recent_merges')::text AS bytes`);
  const duplicates = await size(`SELECT pg_total_relation_size('${schema}_loader.duplicates')::text AS bytes`);
  const events = partitions - hourIndex;
  const bookkeeping = keys + hourIndex;
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  return {
    events,
    bookkeeping,
    lines: [
      `storage: events partitions ${mb(events)} (rows, TOAST, uuid and analysts' indexes); dedup's state per event ${mb(bookkeeping)} = ${((bookkeeping / events) * 100).toFixed(1)} % ` +
        `(event_keys ${mb(keys)}, upload_hour index of events ${mb(hourIndex)}); the last merges' keys (recent_merges, a fixed size) ${mb(merges)}; ` +
        `dropped copies (duplicates) ${mb(duplicates)}`,
    ],
  };
}

async function runCeiling(pool: pg.Pool, generated: GeneratedExport): Promise<Measured> {
  await prepareSchema(pool, 'ceiling', generated);
  const client = await pool.connect();
  try {
    const columns = EVENTS_COPY_COLUMNS.map((c) => `"${c}"`).join(', ');
    return await timed('ceiling', async () => {
      await pipeline(createReadStream(generated.typedRowsPath), client.query(copyFrom(`COPY ceiling.events (${columns}) FROM STDIN`)));
    });
  } finally {
    client.release();
  }
}

/** What a user writes instead: raw lines into jsonb, then one INSERT … SELECT with casts. */
function eltInsert(): string {
  const cast = (key: string, type: string) => {
    const text = `j->>'${key}'`;
    switch (type) {
      case 'timestamptz':
        return `(${text})::timestamp AT TIME ZONE 'UTC'`;
      case 'jsonb':
        return `j->'${key}'`;
      case 'text':
        return text;
      default:
        return `(${text})::${type}`;
    }
  };
  const known = EVENT_COLUMNS.map((c) => `'${c.key}'`).join(', ');
  // Provenance as such a user would have it: the project and upload hour, no entry or line.
  return `INSERT INTO elt.events (${EVENTS_COPY_COLUMNS.map((c) => `"${c}"`).join(', ')})
    SELECT ${EVENT_COLUMNS.map((c) => cast(c.key, c.type)).join(', ')}, j - ARRAY[${known}], 'default',
           date_trunc('hour', ${cast('server_upload_time', 'timestamptz')}), now(), 0, 0
      FROM (SELECT line AS j FROM elt.raw) raw
    ON CONFLICT DO NOTHING`;
}

async function runElt(pool: pg.Pool, generated: GeneratedExport): Promise<Measured> {
  await prepareSchema(pool, 'elt', generated);
  await pool.query('CREATE UNIQUE INDEX ON elt.events (uuid, event_time)');
  await pool.query('CREATE TABLE elt.raw (line jsonb NOT NULL)');
  const client = await pool.connect();
  try {
    return await timed('elt', async () => {
      // The usual trick to COPY lines verbatim: CSV with quote and delimiter bytes that never occur.
      await pipeline(
        createReadStream(generated.ndjsonPath),
        client.query(copyFrom(`COPY elt.raw (line) FROM STDIN WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')`)),
      );
      await client.query(eltInsert());
    });
  } finally {
    client.release();
  }
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i] as number) : String(c).padStart(widths[i] as number))).join('  ');
}

const STAGES = ['download', 'copy', 'partitions', 'probe', 'tally', 'lock', 'settle', 'rollups', 'commit', 'brin'];

/** Mean seconds per hour, and per stage, of each tenth of the hours, oldest first. */
function historyTable(hours: readonly HourLine[], eventsPerHour: number): { lines: string[]; ratio: number } {
  const tenths = Array.from({ length: 10 }, (_, t) => hours.slice(Math.floor((t * hours.length) / 10), Math.floor(((t + 1) * hours.length) / 10)));
  const mean = (list: readonly HourLine[], pick: (h: HourLine) => number) => list.reduce((sum, h) => sum + pick(h), 0) / Math.max(1, list.length);
  const widths = [6, 22, 8, ...STAGES.map((s) => Math.max(8, s.length))];
  const lines = [row(['tenth', 'events loaded below', 's/hour', ...STAGES], widths)];
  let before = 0;
  for (const [t, list] of tenths.entries()) {
    lines.push(
      row(
        [String(t + 1), `${before}–${before + list.length * eventsPerHour}`, mean(list, (h) => h.seconds).toFixed(3), ...STAGES.map((s) => mean(list, (h) => h.stage_seconds[s] ?? 0).toFixed(3))],
        widths,
      ),
    );
    before += list.length * eventsPerHour;
  }
  const first = mean(tenths[0] ?? [], (h) => h.seconds);
  const last = mean(tenths[9] ?? [], (h) => h.seconds);
  return { lines, ratio: last / first };
}

/** The export (generated once per size), served by a fake Export API, and a fresh database to load into. */
async function setUp(events: number, hours: number): Promise<{ generated: GeneratedExport; api: LocalExportApi; url: string; pool: pg.Pool }> {
  process.stderr.write(`generating ${events} events in ${hours} hour(s)...\n`);
  const generated = await exportFor(events, hours);
  const api = await new LocalExportApi(new Map([...generated.archives].map(([hour, file]) => [hour, { file }]))).start();
  const url = await freshDatabase('amplitude_pg_bench');
  return { generated, api, url, pool: createPool({ connectionString: url, maxConnections: 2 }) };
}

/** `--history N`: N events as hours of 25,000 loaded in order, one at a time, hour by hour. */
async function runHistory(events: number): Promise<void> {
  const { generated, api, url, pool } = await setUp(events, Number(args.hours ?? Math.ceil(events / HISTORY_HOUR_EVENTS)));
  try {
    process.stderr.write('loader, one hour at a time...\n');
    const loader = await runLoader(api, url, generated, 1);
    const perHour = Math.round(generated.events / generated.archives.size);
    const table = historyTable(loader.hours, perHour);
    const stored = await storage(pool, 'amplitude');
    const lines = [
      `amplitude-pg history bench, ${new Date().toISOString().slice(0, 10)}: ${generated.events} events in ${generated.archives.size} upload hours of ${perHour}, ` +
        `loaded in order with --concurrency 1; ${cpus().length} cores`,
      '',
      ...table.lines,
      '',
      `last tenth / first tenth, seconds per hour: ${table.ratio.toFixed(2)} (goal ≤ 1.15)`,
      `dedup lock held: ${(lockShare(loader.hours) * 100).toFixed(1)} % of the hours' wall time (goal ≤ 5 %)`,
      ...stored.lines,
      `total ${loader.seconds.toFixed(1)} s, ${Math.round(generated.events / loader.seconds)} events/s; Postgres CPU ${((loader.postgresCpuSeconds / generated.events) * 1e6).toFixed(1)} µs/event`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (args.json) await writeFile(args.json, JSON.stringify({ events: generated.events, loader, ratio: table.ratio, storage: stored }, null, 2));
  } finally {
    await pool.end();
    await api.close();
  }
}

/**
 * The indexes of events beyond those the loader itself reads: uuid (dedup), upload_hour (reloads) and,
 * with `loaderNeeds`, (amplitude_id, event_time), through which the users rollup recomputes a user.
 */
async function secondaryIndexes(pool: pg.Pool | pg.PoolClient, loaderNeeds: boolean): Promise<string[]> {
  const kept = ['amplitude.events_uuid_idx', 'amplitude.events_upload_hour_idx', ...(loaderNeeds ? ['amplitude.events_amplitude_id_idx'] : [])];
  const { rows } = await pool.query<{ name: string }>(
    `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'amplitude.events'::regclass
        AND NOT indexrelid::regclass::text = ANY ($1) ORDER BY 1`,
    [kept],
  );
  return rows.map((r) => r.name);
}

/** The analysts' questions: the README's example block, sql/examples/, and the usual shapes of ad-hoc query. */
async function analystQueries(pool: pg.Pool): Promise<[string, string][]> {
  const repo = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');
  const readme = await repo('README.md');
  const block = /### Example queries[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const fromReadme = block
    .split(';')
    .map((q) => q.trim())
    .filter((q) => q.replace(/--.*$/gm, '').trim() !== '')
    .map((q): [string, string] => [`README: ${(/^-- (.*)$/m.exec(q)?.[1] ?? q).slice(0, 60)}`, q]);
  const examples: [string, string][] = [];
  for (const file of ['funnel.sql', 'retention.sql', 'top_events_by_platform.sql']) examples.push([`sql/examples/${file}`, await repo(`sql/examples/${file}`)]);
  const { rows } = await pool.query<{ user: string; hour: string }>(
    `SELECT (SELECT amplitude_id FROM amplitude.events ORDER BY uuid LIMIT 1)::text AS user,
            (SELECT date_trunc('hour', event_time) FROM amplitude.events ORDER BY uuid LIMIT 1)::text AS hour`,
  );
  const { user, hour } = rows[0] as { user: string; hour: string };
  return [
    ...fromReadme,
    ...examples,
    ['sessions, one day, rollup', `SELECT count(*), avg(duration) FROM amplitude.sessions WHERE session_start >= '${hour}'::timestamptz - interval '12 hours' AND session_start < '${hour}'::timestamptz + interval '12 hours'`],
    ['sessions per day, from events', `SELECT (first AT TIME ZONE 'UTC')::date, count(*), avg(last - first) FROM (SELECT min(event_time) AS first, max(event_time) AS last FROM amplitude.events WHERE amplitude_id IS NOT NULL AND session_id <> -1 GROUP BY project, amplitude_id, session_id) s GROUP BY 1`],
    ['sessions per day, rollup', `SELECT (session_start AT TIME ZONE 'UTC')::date, count(*), avg(duration) FROM amplitude.sessions GROUP BY 1`],
    ['one user\'s sessions, numbered, rollup', `SELECT * FROM amplitude.sessions WHERE amplitude_id = ${user} ORDER BY session_number`],
    ['daily metrics, rollups', 'SELECT * FROM amplitude.daily_metrics'],
    ['merged ids, all', 'SELECT count(*) FROM amplitude.merged_ids'],
    ['active people per day, rollups', 'SELECT day, active_people FROM amplitude.daily_active_people'],
    ['one user, with person_id', `SELECT * FROM amplitude.users WHERE amplitude_id = ${user}`],
    ['view: coverage', 'SELECT * FROM amplitude.coverage'],
    ['one user\'s timeline', `SELECT event_time, event_type, event_properties FROM amplitude.events WHERE amplitude_id = ${user} ORDER BY event_time DESC LIMIT 100`],
    ['one hour\'s window', `SELECT event_type, count(*) FROM amplitude.events WHERE event_time >= '${hour}' AND event_time < '${hour}'::timestamptz + interval '1 hour' GROUP BY 1`],
    ['events per type per day, from events', `SELECT (event_time AT TIME ZONE 'UTC')::date, event_type, count(*) FROM amplitude.events GROUP BY 1, 2`],
    ['events per type per day, rollup', 'SELECT day, event_type, events FROM amplitude.event_counts'],
    ['DAU, from events', `SELECT (event_time AT TIME ZONE 'UTC')::date, count(DISTINCT amplitude_id) FROM amplitude.events GROUP BY 1`],
    ['DAU, rollup', 'SELECT day, active_users FROM amplitude.daily_active_users'],
    ['purchases: one type, a property through jsonb', `SELECT event_properties->'ab'->>'hero' AS hero, count(*), sum((event_properties->'items'->0->>'price')::numeric) FROM amplitude.events WHERE event_type = 'purchase' GROUP BY 1`],
    ['a property over all events', `SELECT user_properties->>'plan', count(*) FROM amplitude.events GROUP BY 1`],
  ];
}

/** Median of three runs, in milliseconds. */
async function queryMillis(client: pg.PoolClient, text: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await client.query(text);
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[1] as number;
}

/**
 * `--queries N`: N events loaded twice, into a warehouse with the analysts' indexes and into one
 * without them (what they cost the load), then each analyst question timed with every index and,
 * inside a transaction that drops all but uuid and upload_hour (the warehouse before issue 10's
 * indexes) and rolls back, without.
 */
async function runQueries(events: number): Promise<void> {
  const { generated, api, url, pool } = await setUp(events, Math.max(1, Math.ceil(events / 25_000)));
  const plainUrl = await freshDatabase('amplitude_pg_bench_plain');
  const plain = createPool({ connectionString: plainUrl, maxConnections: 2 });
  try {
    await migrate(plain, 'amplitude');
    const dropped = await secondaryIndexes(plain, true);
    for (const index of dropped) await plain.query(`DROP INDEX ${index}`);
    process.stderr.write(`loader without ${dropped.join(', ')}...\n`);
    const without = await runLoader(api, plainUrl, generated, Number(args.concurrency));
    process.stderr.write('loader with them...\n');
    const withIndexes = await runLoader(api, url, generated, Number(args.concurrency));
    await pool.query('VACUUM ANALYZE');
    const sizes = await pool.query<{ name: string; bytes: string }>(
      `SELECT i.relname AS name, sum(pg_relation_size(c.oid))::text AS bytes
         FROM pg_class i JOIN pg_inherits h ON h.inhparent = i.oid JOIN pg_class c ON c.oid = h.inhrelid
        WHERE i.relnamespace = 'amplitude'::regnamespace AND i.relkind = 'I' GROUP BY 1 ORDER BY 1`,
    );
    const queries = await analystQueries(pool);
    const client = await pool.connect();
    const timings: [string, number, number][] = [];
    try {
      const after = new Map<string, number>();
      for (const [name, text] of queries) after.set(name, await queryMillis(client, text));
      await client.query('BEGIN');
      for (const index of await secondaryIndexes(client, false)) await client.query(`DROP INDEX ${index}`);
      for (const [name, text] of queries) timings.push([name, await queryMillis(client, text), after.get(name) as number]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const widths = [52, 12, 12, 8];
    const lines = [
      `amplitude-pg query bench, ${new Date().toISOString().slice(0, 10)}: ${generated.events} events in ${generated.archives.size} hours; ${cpus().length} cores; ` +
        `median of 3 runs, warm cache`,
      '',
      row(['query', 'without ms', 'with ms', 'ratio'], widths),
      ...timings.map(([name, before, after]) => row([name, before.toFixed(1), after.toFixed(1), (before / after).toFixed(1)], widths)),
      '',
      `indexes of events: ${sizes.rows.map((r) => `${r.name} ${(Number(r.bytes) / 1e6).toFixed(1)} MB`).join(', ')}`,
      `load without ${dropped.join(', ')}: ${without.seconds.toFixed(1)} s, Postgres CPU ${((without.postgresCpuSeconds / generated.events) * 1e6).toFixed(1)} µs/event`,
      `load with them: ${withIndexes.seconds.toFixed(1)} s, Postgres CPU ${((withIndexes.postgresCpuSeconds / generated.events) * 1e6).toFixed(1)} µs/event; ` +
        `with/without ${(withIndexes.seconds / without.seconds).toFixed(2)}`,
      `stages with them, summed over hours (s): ${Object.entries(withIndexes.stages).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await plain.end();
    await pool.end();
    await api.close();
  }
}

/**
 * `--citus N`: the loader on one server (the machine's PostgreSQL), then on a Citus coordinator and
 * two workers started on this machine from the same binaries, one after the other in one run.
 */
async function runCitus(events: number): Promise<void> {
  const bin = citusBinaries();
  if (!bin) throw new Error('no PostgreSQL on this machine has the citus extension installed');
  const { generated, api, url, pool } = await setUp(events, Math.max(1, Math.ceil(events / 25_000)));
  const cluster = await startCitusCluster(bin);
  try {
    process.stderr.write('loader, one server...\n');
    const single = await runLoader(api, url, generated, Number(args.concurrency));
    const clusterUrl = await createClusterDatabase(cluster.nodes, 'amplitude_pg_bench');
    process.stderr.write('loader, Citus coordinator and two workers...\n');
    const distributed = await runLoader(api, clusterUrl, generated, Number(args.concurrency));
    const widths = [34, 9, 10, 18, 16];
    const line = (name: string, r: LoaderRun) =>
      row([name, r.seconds.toFixed(2), Math.round(generated.events / r.seconds), ((r.postgresCpuSeconds / generated.events) * 1e6).toFixed(1), `${(lockShare(r.hours) * 100).toFixed(1)} %`], widths);
    const lines = [
      `amplitude-pg Citus bench, ${new Date().toISOString().slice(0, 10)}: ${generated.events} events in ${generated.archives.size} hours; ${cpus().length} cores; ` +
        `loader --concurrency ${args.concurrency}; all nodes on this machine`,
      '',
      row(['', 'seconds', 'events/s', 'Postgres µs/event', 'dedup lock held'], widths),
      line('one server', single),
      line('Citus: coordinator + 2 workers', distributed),
      '',
      `cluster / one server, seconds: ${(distributed.seconds / single.seconds).toFixed(2)}`,
      `stages on the cluster, summed over hours (s): ${Object.entries(distributed.stages).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
      `stages on one server, summed over hours (s): ${Object.entries(single.stages).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await cluster.stop();
    await pool.end();
    await api.close();
  }
}

async function main(): Promise<void> {
  if (args.lines) return runLineCosts(Number(args['line-mb']));
  if (args['transform-scaling']) {
    const events = Number(args.events);
    const generated = await exportFor(events, Number(args.hours ?? Math.max(1, Math.min(48, Math.ceil(events / 25_000)))));
    return runTransformScaling(generated.ndjsonPath, generated.events, Number(args.concurrency));
  }
  if (args.history !== undefined) return runHistory(Number(args.history));
  if (args.citus !== undefined) return runCitus(Number(args.citus));
  if (args.queries !== undefined) return runQueries(Number(args.queries));
  const hourMb = args['hour-mb'] === undefined ? undefined : Number(args['hour-mb']);
  // About 1.25 KB per event: N MB of NDJSON in one hour.
  const events = hourMb ? Math.round((hourMb * 1e6) / 1250) : Number(args.events);
  const hours = hourMb ? 1 : Number(args.hours ?? Math.max(1, Math.min(48, Math.ceil(events / 25_000))));
  const concurrency = Number(args.concurrency);
  const only = new Set((args.only ?? 'loader,ceiling,elt').split(','));
  const threadFlags = args['transform-threads'] === undefined ? [] : ['--transform-threads', args['transform-threads']];

  const { generated, api, url, pool } = await setUp(events, hours);
  const results: Measured[] = [];
  let loader: LoaderRun | undefined;
  let stored: Awaited<ReturnType<typeof storage>> | undefined;
  try {
    if (only.has('loader')) {
      process.stderr.write('loader...\n');
      loader = await runLoader(api, url, generated, concurrency, threadFlags);
      results.push(loader);
      stored = await storage(pool, 'amplitude');
      // The same archives again: a reload of unchanged hours should cost about a load.
      process.stderr.write('reload...\n');
      results.push(await runLoader(api, url, generated, concurrency, [...threadFlags, '--reload'], 'reload'));
    }
    if (only.has('ceiling')) {
      process.stderr.write('ceiling...\n');
      results.push(await runCeiling(pool, generated));
    }
    if (only.has('elt')) {
      process.stderr.write('ELT baseline...\n');
      results.push(await runElt(pool, generated));
    }
  } finally {
    await pool.end();
    await api.close();
  }

  const mb = generated.ndjsonBytes / 1e6;
  const widths = [26, 9, 10, 8, 12];
  const lines = [
    `amplitude-pg bench, ${new Date().toISOString().slice(0, 10)}: ${generated.events} events in ${generated.archives.size} hour(s), ` +
      `${mb.toFixed(1)} MB NDJSON (${((generated.ndjsonBytes / generated.events) / 1000).toFixed(2)} KB/event); ` +
      `${cpus().length} cores, loader --concurrency ${concurrency}${threadFlags.length > 0 ? ` --transform-threads ${threadFlags[1]}` : ''}`,
    '',
    row(['', 'seconds', 'events/s', 'MB/s', 'Postgres CPU s'], widths),
    ...results.map((r) =>
      row([{ loader: 'loader (zip over HTTP → rows)', reload: 'reload (--reload, unchanged)', ceiling: 'ceiling (COPY typed rows)', elt: 'ELT (jsonb + INSERT)' }[r.name] ?? r.name, r.seconds.toFixed(2), Math.round(generated.events / r.seconds), (mb / r.seconds).toFixed(1), r.postgresCpuSeconds.toFixed(2)], widths),
    ),
    '',
  ];
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  if (by.loader && by.ceiling) lines.push(`loader/ceiling: ${(by.ceiling.seconds / by.loader.seconds).toFixed(2)} (target ≥ 0.5)`);
  if (by.loader && by.reload) {
    const reloadRss = ((by.reload as LoaderRun).summary.max_rss_bytes ?? 0) / 1e6;
    lines.push(`reload/load:    ${(by.reload.seconds / by.loader.seconds).toFixed(2)} (target ≤ 1.5; every hour's unchanged archive again, --reload; its peak RSS ${reloadRss.toFixed(0)} MB)`);
  }
  if (by.loader && by.elt) lines.push(`loader/ELT:     ${(by.elt.seconds / by.loader.seconds).toFixed(2)} (target ≥ 2)`);
  if (loader) {
    const s = loader.summary;
    const loaderCpu = (s.cpu_user_seconds ?? 0) + (s.cpu_system_seconds ?? 0);
    lines.push(
      `loader: peak RSS ${((s.max_rss_bytes ?? 0) / 1e6).toFixed(0)} MB; CPU ${loaderCpu.toFixed(2)} s = ${((loaderCpu / generated.events) * 1e6).toFixed(1)} µs/event; ` +
        `Postgres CPU ${loader.postgresCpuSeconds.toFixed(2)} s = ${((loader.postgresCpuSeconds / generated.events) * 1e6).toFixed(1)} µs/event`,
      `loader rows inserted ${s.rows_inserted}, duplicates by uuid ${s.duplicates_uuid}, by insert_id ${s.duplicates_insert_id}`,
      `stages, summed over hours (s): ${Object.entries(loader.stages).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
      `dedup lock held: ${(lockShare(loader.hours) * 100).toFixed(1)} % of the hours' wall time (goal ≤ 5 %)`,
      ...(stored?.lines ?? []),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) await writeFile(args.json, JSON.stringify({ events: generated.events, ndjsonBytes: generated.ndjsonBytes, results, loader }, null, 2));
}

await main();
