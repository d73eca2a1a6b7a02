import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import pg from 'pg';
import { CATALOG } from '../../src/db/catalog.js';
import { SAMPLE_FIRST_HOUR, SAMPLE_LAST_HOUR, sampleEvents } from '../../src/demo/sample-events.js';
import type { LocalExportApi } from '../../src/demo/local-export-api.js';
import { sampleExportApi } from '../../src/demo/sample-export-api.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { assertRollups } from '../helpers/invariants.js';

const EXAMPLES = fileURLToPath(new URL('../../../sql/examples/', import.meta.url));

interface Event {
  amplitude_id: number;
  event_type: string;
  event_time: string;
  platform: string;
  device_id: string;
  session_id: number;
}

// The sample's events as the warehouse should hold them: every unique event once.
const events: Event[] = sampleEvents()
  .filter((e) => e.unique)
  .map((e) => JSON.parse(e.line) as Event);
const day = (e: Event) => e.event_time.slice(0, 10);

let db: TestDatabase;
let api: LocalExportApi;
let loaded: Promise<void> | undefined;

/** Loads the demo's sample export into a database of this file's own, once, with the real loader. */
function demoData(): Promise<void> {
  loaded ??= (async () => {
    db = await createTestDatabase();
    api = await sampleExportApi();
    const result = await runCli(['load', '--range', `${SAMPLE_FIRST_HOUR}..${SAMPLE_LAST_HOUR}`], {
      AMPLITUDE_API_KEY: 'demo',
      AMPLITUDE_SECRET_KEY: 'demo',
      AMPLITUDE_EXPORT_URL: api.url,
      DATABASE_URL: db.url,
    });
    assert.equal(result.code, 0, result.stderr);
  })();
  return loaded;
}
after(async () => {
  await api?.close();
  await db?.drop();
});

async function example(name: string): Promise<Record<string, unknown>[]> {
  await demoData();
  const { rows } = await db.pool.query(await readFile(EXAMPLES + name, 'utf8'));
  return rows;
}

test('the warehouse holds each sample event once', async () => {
  await demoData();
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM amplitude.events');
  assert.equal(rows[0].n, events.length);
  const { rows: dropped } = await db.pool.query('SELECT count(*)::int AS n FROM amplitude_loader.duplicates');
  assert.ok(dropped[0].n > 0, 'the sample re-sends some events');
});

test('examples/funnel.sql counts signup, then add_to_cart, then purchase, per user and in order', async () => {
  const firstAt = (user: number, type: string, after: string) =>
    events.filter((e) => e.amplitude_id === user && e.event_type === type && e.event_time >= after).map((e) => e.event_time).sort()[0];
  const users = [...new Set(events.map((e) => e.amplitude_id))];
  const steps = [0, 0, 0];
  for (const user of users) {
    const signup = firstAt(user, 'signup', '');
    if (!signup) continue;
    steps[0]!++;
    const cart = firstAt(user, 'add_to_cart', signup);
    if (!cart) continue;
    steps[1]!++;
    if (firstAt(user, 'purchase', cart)) steps[2]!++;
  }
  const rows = await example('funnel.sql');
  assert.deepEqual(rows.map((r) => [r.step, r.event_type, Number(r.users)]), [
    [1, 'signup', steps[0]],
    [2, 'add_to_cart', steps[1]],
    [3, 'purchase', steps[2]],
  ]);
  assert.ok(steps[0]! > steps[1]! && steps[1]! > steps[2]! && steps[2]! > 0);
});

test('examples/retention.sql gives each first-seen cohort its returning users by day', async () => {
  const firstSeen = new Map<number, string>();
  for (const e of events) if (!firstSeen.has(e.amplitude_id) || day(e) < firstSeen.get(e.amplitude_id)!) firstSeen.set(e.amplitude_id, day(e));
  const expected = new Map<string, Set<number>>();
  for (const e of events) {
    const cohort = firstSeen.get(e.amplitude_id)!;
    const key = `${cohort} ${(Date.parse(day(e)) - Date.parse(cohort)) / 86_400_000}`;
    if (!expected.has(key)) expected.set(key, new Set());
    expected.get(key)!.add(e.amplitude_id);
  }
  const rows = await example('retention.sql');
  const actual = new Map(rows.map((r) => [`${(r.cohort as Date).toISOString().slice(0, 10)} ${r.days_later}`, Number(r.users)]));
  assert.deepEqual(actual, new Map([...expected].map(([k, v]) => [k, v.size])));
  assert.ok([...actual.keys()].some((k) => k.endsWith(' 2')), 'some users return two days later');
});

test('examples/top_events_by_platform.sql ranks the three most frequent event types per platform', async () => {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(`${e.platform}|${e.event_type}`, (counts.get(`${e.platform}|${e.event_type}`) ?? 0) + 1);
  const expected: [string, string, number][] = [];
  for (const platform of ['Android', 'Web', 'iOS']) {
    const ranked = [...counts].filter(([k]) => k.startsWith(`${platform}|`)).map(([k, n]) => [platform, k.split('|')[1]!, n] as [string, string, number]);
    ranked.sort((a, b) => b[2] - a[2] || (a[1] < b[1] ? -1 : 1));
    expected.push(...ranked.slice(0, 3));
  }
  const rows = await example('top_events_by_platform.sql');
  assert.deepEqual(rows.map((r) => [r.platform, r.event_type, Number(r.events)]), expected);
});

test('the sessions view and the rollups agree with the events', async () => {
  await demoData();
  const sessions = new Set(events.map((e) => `${e.amplitude_id}|${e.session_id}`));
  const { rows: s } = await db.pool.query(
    `SELECT count(*)::int AS n, sum(event_count)::int AS events, bool_and(session_end >= session_start) AS ordered,
            bool_and(first_event_type IN ('session_start', 'login')) AS starts, max(session_number)::int AS most FROM amplitude.sessions`,
  );
  const perUser = new Map<number, Set<number>>();
  for (const e of events) perUser.set(e.amplitude_id, (perUser.get(e.amplitude_id) ?? new Set()).add(e.session_id));
  const most = Math.max(...[...perUser.values()].map((set) => set.size));
  assert.deepEqual(s[0], { n: sessions.size, events: events.length, ordered: true, starts: true, most });
  // The demo has what the people and session rollups are for: sessions across upload hours, anonymous
  // ids merged into the users who logged in on their devices.
  const { rows: shape } = await db.pool.query(
    `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM amplitude.events WHERE session_id <> -1
                                        GROUP BY amplitude_id, session_id HAVING count(DISTINCT upload_hour) > 1) x) AS spanning,
            (SELECT count(*)::int FROM amplitude.merged_ids) AS merged,
            (SELECT bool_and(active_people < active_users) FROM amplitude.daily_metrics WHERE day > '2024-03-01') AS fewer_people`,
  );
  assert.ok(shape[0].spanning > 10, `${shape[0].spanning} sessions span upload hours`);
  assert.ok(shape[0].merged > 10, `${shape[0].merged} merged ids`);
  assert.equal(shape[0].fewer_people, true);

  const dau = new Map<string, Set<number>>();
  for (const e of events) {
    const key = `${day(e)} ${e.platform}`;
    if (!dau.has(key)) dau.set(key, new Set());
    dau.get(key)!.add(e.amplitude_id);
  }
  const { rows: d } = await db.pool.query(`SELECT day::text, platform, active_users::int FROM amplitude.daily_active_users_by_platform`);
  assert.deepEqual(new Map(d.map((r) => [`${r.day} ${r.platform}`, r.active_users])), new Map([...dau].map(([k, v]) => [k, v.size])));
  const total = new Map<string, Set<number>>();
  for (const e of events) total.set(day(e), (total.get(day(e)) ?? new Set()).add(e.amplitude_id));
  const { rows: t } = await db.pool.query(`SELECT day::text, active_users::int FROM amplitude.daily_active_users WHERE project = 'default'`);
  assert.deepEqual(new Map(t.map((r) => [r.day, r.active_users])), new Map([...total].map(([k, v]) => [k, v.size])));

  const { rows: c } = await db.pool.query(`SELECT sum(events)::int AS events FROM amplitude.event_counts WHERE event_type = 'purchase'`);
  assert.equal(c[0].events, events.filter((e) => e.event_type === 'purchase').length);
  const { rows: u } = await db.pool.query(`SELECT count(*)::int AS n, min(first_seen) <= min(last_seen) AS ordered FROM amplitude.users`);
  assert.deepEqual(u[0], { n: new Set(events.map((e) => e.amplitude_id)).size, ordered: true });
  await assertRollups(db.pool, 'amplitude');
});

test('amplitude_reader reads exactly the analysts\' objects and later partitions, nothing of the loader\'s, and can neither write nor create', async () => {
  await demoData();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows: role } = await client.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = 'amplitude_reader'`);
    assert.deepEqual(role, [{ rolcanlogin: false }]);
    const { rows: readable } = await client.query(
      `SELECT c.relname AS name FROM pg_class c
        WHERE c.relnamespace IN ('amplitude'::regnamespace, 'amplitude_loader'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND NOT c.relispartition AND has_schema_privilege('amplitude_reader', c.relnamespace, 'USAGE')
          AND has_table_privilege('amplitude_reader', c.oid, 'SELECT') ORDER BY 1`,
    );
    const analysts = CATALOG.filter((r) => r.audience === 'analysts').map((r) => r.name).sort();
    assert.deepEqual(readable.map((r) => r.name), analysts);
    await client.query('SET ROLE amplitude_reader');
    const { rows } = await client.query('SELECT count(*)::int AS n FROM amplitude.events_p2024_03');
    assert.equal(rows[0].n, events.length, 'a partition the loader created after the migrations is readable');
    const { rows: coverage } = await client.query(`SELECT project, hours_with_data > 0 AS loaded, hours_missing, freshness > interval '0' AS stale FROM amplitude.coverage`);
    assert.deepEqual(coverage, [{ project: 'default', loaded: true, hours_missing: '0', stale: true }], 'coverage reads the bookkeeping on the reader\'s behalf');
    await assert.rejects(client.query('SELECT count(*) FROM amplitude_loader.upload_hours'), { code: '42501' });
    await assert.rejects(client.query(`DELETE FROM amplitude.events`), { code: '42501' });
    await assert.rejects(client.query(`UPDATE amplitude.events SET user_id = 'x'`), { code: '42501' });
    await assert.rejects(client.query(`UPDATE amplitude.users SET user_id = 'x'`), { code: '55000' }, 'a rollup is a view nobody writes');
    await assert.rejects(client.query('CREATE TABLE amplitude.scratch (x int)'), { code: '42501' });
  } finally {
    await client.end();
  }
});

test('the sample\'s revenues are whole cents, written as such', () => {
  const revenues = sampleEvents()
    .map((e) => JSON.parse(e.line) as { event_type: string; event_properties: { revenue?: number } })
    .filter((e) => e.event_type === 'purchase')
    .map((e) => String(e.event_properties.revenue));
  assert.ok(revenues.length > 10);
  for (const revenue of revenues) assert.match(revenue, /^\d+(\.\d{1,2})?$/);
});

test("every query of the README's example block returns rows on the demo data", async () => {
  await demoData();
  const readme = await readFile(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const block = /### Example queries[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const queries = block.split(';').map((q) => q.trim()).filter((q) => q.replace(/--.*$/gm, '').trim() !== '');
  assert.ok(queries.length >= 5, `found ${queries.length} queries`);
  for (const query of queries) {
    const { rows } = await db.pool.query(query);
    assert.ok(rows.length > 0, `no rows from:\n${query}`);
    assert.ok(rows.every((row) => Object.values(row).every((value) => value !== null)), `a NULL in:\n${query}`);
  }
});

test("every panel of the Grafana dashboards returns rows on the demo data, as the analysts' login, with no NULL", async () => {
  await demoData();
  const directory = fileURLToPath(new URL('../../../sql/dashboards/', import.meta.url));
  // What Grafana sends: its time macro expanded over a range holding the demo's days, the variable set.
  const expand = (sql: string) =>
    sql
      .replace(/\$__timeFilter\(([^)]+)\)/g, "$1 BETWEEN '2024-02-01T00:00:00Z' AND '2024-04-01T00:00:00Z'")
      .replaceAll('${project}', 'default');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('SET ROLE amplitude_reader');
    let panels = 0;
    for (const file of (await readdir(directory)).filter((f) => f.endsWith('.json'))) {
      const dashboard = JSON.parse(await readFile(`${directory}${file}`, 'utf8')) as {
        templating: { list: { query: string }[] };
        panels: { title: string; targets: { rawSql: string }[] }[];
      };
      const queries = [
        ...dashboard.templating.list.map((v) => ['variable', v.query] as const),
        ...dashboard.panels.flatMap((p) => p.targets.map((t) => [p.title, t.rawSql] as const)),
      ];
      for (const [title, sql] of queries) {
        const text = expand(sql);
        assert.doesNotMatch(text, /\$/, `${file}, ${title}: a macro or variable the test does not expand`);
        const { rows } = await client.query(text);
        assert.ok(rows.length > 0, `${file}, ${title}: no rows`);
        assert.ok(rows.every((row) => Object.values(row).every((value) => value !== null)), `${file}, ${title}: a NULL`);
        panels += 1;
      }
    }
    assert.ok(panels >= 6, `${panels} queries`);
  } finally {
    await client.end();
  }
});
