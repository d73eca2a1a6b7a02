import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rowsFor, userStatesOf } from '../../src/load/lookups.js';
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
