import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rowsFor, unchangedRowsOf, userStatesOf } from '../../src/load/lookups.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// The single-server and Citus variants of each lookup run here on one PostgreSQL (the Citus one is
// plain SQL too) over the same rows, and must answer the same; test/citus runs them on Citus.
let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
  await db.pool.query(`CREATE TABLE ev (uuid uuid, event_time timestamptz, amplitude_id bigint, project text, user_id text, user_properties jsonb)`);
  await db.pool.query(`CREATE INDEX ON ev (amplitude_id, event_time)`);
  // Users with many events across hours, two events of one user at the same time (the uuid decides),
  // a user whose newest event has no user_id, another project's rows of the same users.
  const rows: unknown[][] = [];
  for (let user = 1; user <= 40; user++) {
    let newest = new Date(0);
    for (let n = 0; n < 25; n++) {
      const time = new Date(Date.UTC(2024, 2, 1, n % 7, (user * n) % 60, 0, (n * 37) % 1000));
      if (time > newest) newest = time;
      rows.push([uuidOf(user, n), time, user, 'web', n % 5 === 0 ? null : `u${user}`, { plan: `p${n % 3}`, n }]);
      rows.push([uuidOf(user + 500, n), new Date(time.getTime() + 3_600_000), user, 'ios', 'other', { project: 'ios' }]);
    }
    // Another event at the user's newest time, with a greater uuid.
    rows.push([uuidOf(user, 99), newest, user, 'web', `tie${user}`, { tie: true }]);
  }
  await db.pool.query(
    `INSERT INTO ev SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[])`,
    [0, 1, 2, 3, 4, 5].map((i) => rows.map((r) => (i === 5 ? JSON.stringify(r[i]) : r[i]))),
  );
  await db.pool.query(`CREATE TABLE wanted (amplitude_id bigint)`);
  // 41 and 42 have no rows: their state is all NULLs.
  await db.pool.query(`INSERT INTO wanted SELECT * FROM unnest(ARRAY[3, 7, 8, 21, 40, 41, 42]::bigint[])`);
  await db.pool.query('ANALYZE ev');
});
after(async () => db.drop());

function uuidOf(user: number, n: number): string {
  return `00000000-0000-4000-8000-${String(user * 1000 + n).padStart(12, '0')}`;
}

test('userStatesOf: the single-server and Citus variants give each user the same state, the newest row by time then uuid', async () => {
  const states = async (distributed: boolean) =>
    (await db.pool.query(`SELECT * FROM (${userStatesOf(distributed, 'wanted', 'ev', `'web'`)}) s ORDER BY amplitude_id`)).rows;
  const single = await states(false);
  assert.deepEqual(await states(true), single);
  // What it should be, computed apart.
  const { rows: expected } = await db.pool.query(
    `SELECT w.amplitude_id,
            (SELECT min(event_time) FROM ev WHERE amplitude_id = w.amplitude_id AND project = 'web') AS first_seen,
            l.event_time AS last_seen, l.uuid AS last_event_uuid, l.user_id, l.user_properties
       FROM wanted w
       LEFT JOIN (SELECT DISTINCT ON (amplitude_id) * FROM ev WHERE project = 'web' ORDER BY amplitude_id, event_time DESC, uuid DESC) l USING (amplitude_id)
      ORDER BY 1`,
  );
  assert.deepEqual(single, expected);
  assert.equal(single.length, 7);
  assert.deepEqual(single.filter((s) => s.last_seen === null).map((s) => s.amplitude_id), ['41', '42']);
  // The tie at the newest time goes to the greater uuid, the one added apart.
  assert.deepEqual(
    single.filter((s) => s.last_seen !== null).map((s) => s.user_id),
    ['tie3', 'tie7', 'tie8', 'tie21', 'tie40'],
  );
});

test('rowsFor: the LATERAL probe and the plain join find the same rows', async () => {
  const outer = `(SELECT * FROM unnest($1::uuid[]) AS o(uuid)) o`;
  const uuids = [uuidOf(3, 4), uuidOf(3, 99), uuidOf(503, 4), uuidOf(77, 1)];
  const found = async (distributed: boolean) =>
    (await db.pool.query(`SELECT e.uuid, e.project FROM ${rowsFor(distributed, outer, 'ev', 'e', `e.uuid = o.uuid AND e.project = 'web'`)} ORDER BY 1`, [uuids])).rows;
  const single = await found(false);
  assert.deepEqual(await found(true), single);
  assert.deepEqual(single, [
    { uuid: uuidOf(3, 4), project: 'web' },
    { uuid: uuidOf(3, 99), project: 'web' },
  ]);
});

test('unchangedRowsOf: both variants find the rows a reload wrote the same, and on one server each key costs its own probes, statistics or not', async () => {
  const client = await db.pool.connect();
  try {
    // An hour's rows as events and duplicates keep them, never analyzed (as a partition filled moments
    // ago): 3,000 from an earlier load (a few of them among the duplicates), then this load's copies:
    // most the same, some changed, some at another line, and one new.
    const table = (name: string) =>
      `CREATE TEMP TABLE ${name} (uuid uuid, event_time timestamptz, project text, upload_hour timestamptz, loaded_at timestamptz,
                                  archive_entry int, archive_line int, event_type text) WITH (autovacuum_enabled = off)`;
    await client.query(table('hour_events'));
    await client.query(table('hour_duplicates'));
    await client.query('CREATE INDEX ON hour_events (uuid)');
    await client.query('CREATE INDEX ON hour_duplicates (uuid)');
    await client.query(`CREATE TEMP TABLE stage_keys (uuid uuid, event_time timestamptz, archive_entry int, archive_line int)`);
    const earlierLoad = `'2026-01-01 00:00Z'`;
    const thisLoad = `'2026-02-01 00:00Z'`;
    const row = (loadedAt: string, line: string, type: string) =>
      `SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, '2024-03-01 05:00Z'::timestamptz + i * interval '1 second', 'web',
              '2024-03-01 05:00Z'::timestamptz, ${loadedAt}::timestamptz, 1, ${line}, ${type}`;
    await client.query(`INSERT INTO hour_events ${row(earlierLoad, 'i', `'e' || (i % 7)`)} FROM generate_series(1, 2950) i`);
    await client.query(`INSERT INTO hour_duplicates ${row(earlierLoad, 'i', `'e' || (i % 7)`)} FROM generate_series(2951, 3000) i`);
    await client.query(
      `INSERT INTO hour_events ${row(thisLoad, `CASE WHEN i % 500 = 0 THEN i + 100000 ELSE i END`, `CASE WHEN i % 300 = 0 THEN 'changed' ELSE 'e' || (i % 7) END`)}
         FROM generate_series(1, 3001) i`,
    );
    await client.query(`INSERT INTO stage_keys SELECT uuid, event_time, archive_entry, archive_line FROM hour_events WHERE loaded_at = ${thisLoad}`);
    const same = (fresh: string, earlier: string) => `${earlier}.event_type IS NOT DISTINCT FROM ${fresh}.event_type`;
    const params = ['2024-03-01 05:00Z', 'web', '2026-02-01 00:00Z'];
    const statement = (distributed: boolean) =>
      `WITH ${unchangedRowsOf(distributed, 'same', 'hour_events', 'hour_duplicates', 'uuid, event_time, archive_entry, archive_line, event_type', same)}
       SELECT place, count(*)::int AS n FROM same GROUP BY place ORDER BY place`;
    const single = (await client.query(statement(false), params)).rows;
    assert.deepEqual((await client.query(statement(true), params)).rows, single);
    // Every 500th earlier row is at another line now and every 300th changed: the rest are the same,
    // 2,937 in events and 49 among the duplicates.
    const moved = (i: number) => i % 500 === 0;
    const changed = (i: number) => i % 300 === 0;
    const expected = { events: 0, duplicates: 0 };
    for (let i = 1; i <= 3000; i++) if (!moved(i) && !changed(i)) expected[i <= 2950 ? 'events' : 'duplicates']++;
    assert.deepEqual(expected, { events: 2937, duplicates: 49 });
    assert.deepEqual(single, [
      { place: 'duplicates', n: expected.duplicates },
      { place: 'events', n: expected.events },
    ]);

    // What the planner does without statistics: on one server every key is probed through the uuid
    // index, never compared with the hour's other rows.
    const { rows: plan } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement(false)}`, params);
    const nodes: Record<string, unknown>[] = [];
    const walk = (node: Record<string, unknown>) => {
      nodes.push(node);
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk(plan[0]['QUERY PLAN'][0].Plan);
    const comparedAway = nodes.reduce((sum, node) => sum + Number(node['Rows Removed by Join Filter'] ?? 0), 0);
    assert.ok(comparedAway <= 3001, `${comparedAway} row pairs compared and thrown away for 3,001 keys`);
    const scans = nodes.filter((node) => ['hour_events', 'hour_duplicates'].includes(node['Relation Name'] as string));
    assert.ok(scans.length > 0 && scans.every((node) => node['Node Type'] !== 'Seq Scan'), scans.map((node) => node['Node Type']).join(', '));
  } finally {
    await client.query('DISCARD TEMP');
    client.release();
  }
});
