import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runLoad } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours, assertRollups } from '../helpers/invariants.js';
import { servePeopleWorkload, serveWorkload, snapshotSchema } from '../helpers/workload.js';

// The warehouse the loader left before the dedup redesign, made as the fixture's header says.
const LEGACY_DUMP = fileURLToPath(new URL('../../../test/fixtures/legacy-0004.sql', import.meta.url));
// One left before sessions and people (0016, 0017) with rollup changes pending, as its header says.
const PRE_SESSIONS_DUMP = fileURLToPath(new URL('../../../test/fixtures/pre-sessions-0015.sql', import.meta.url));

const fixtures = useLoaderFixtures(async ({ api }) => {
  await serveWorkload(api, { day: '20240801', hours: 4, eventsPerHour: 40 });
  await servePeopleWorkload(api, { day: '20240901', hours: 5 });
});

async function load(schema: string, range: string, extra: string[] = []) {
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', schema, '--range', range, ...extra]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return result;
}

test('a warehouse of the earlier layout migrates in place, then loads and reloads exactly as a new one', async () => {
  await fixtures.db.pool.query(await readFile(LEGACY_DUMP, 'utf8'));
  const { rows: before } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM legacy.event_copies`);
  assert.equal(before[0].n, 200, 'the dump holds three hours of copies');

  // Hours 00..02 were loaded by the earlier layout; 03 repeats uuids and insert_ids of 02.
  const first = await load('legacy', '20240801T00..20240801T03');
  assert.match(first.stdout, /hours loaded: +1\n/);
  assert.match(first.stdout, /already loaded or empty: 3/);
  const { rows: gone } = await fixtures.db.pool.query(`SELECT to_regclass('legacy.event_copies') IS NULL AS gone`);
  assert.equal(gone[0].gone, true);
  await load('legacy', '20240801T01', ['--reload']);

  await load('fresh', '20240801T00..20240801T03');
  assert.deepEqual(await snapshotSchema(fixtures.db.pool, 'legacy'), await snapshotSchema(fixtures.db.pool, 'fresh'));
  await assertNoHalfLoadedHours(fixtures.db.pool, 'legacy');
});

test('a warehouse left with rollup changes pending before sessions and people migrates to rollups that equal its events, and loads on as a new one', async () => {
  const pool = fixtures.db.pool;
  await pool.query(await readFile(PRE_SESSIONS_DUMP, 'utf8'));
  const { rows: held } = await pool.query(
    `SELECT (SELECT count(*) FROM upgraded_loader.daily_users_pending)::int AS daily_users, (SELECT count(*) FROM upgraded_loader.users_pending)::int AS users`,
  );
  assert.ok(held[0].daily_users > 0 && held[0].users > 0, 'the dump holds pending rollup changes');

  // T00..T03 were loaded before; T04 is new. The load migrates first.
  const first = await load('upgraded', '20240901T00..20240901T04');
  assert.match(first.stdout, /hours loaded: +1\n/);
  await assertRollups(pool, 'upgraded');
  const { rows: people } = await pool.query(
    `SELECT (SELECT count(*) FROM upgraded.sessions)::int AS sessions, (SELECT count(*) FROM upgraded.merged_ids)::int AS merged,
            (SELECT sum(sessionless_events) FROM upgraded.daily_users)::int AS sessionless`,
  );
  assert.deepEqual(people[0], { sessions: 62, merged: 2, sessionless: 40 });
  await load('upgraded', '20240901T02', ['--reload']);
  await assertRollups(pool, 'upgraded');

  await load('fresh_people', '20240901T00..20240901T04');
  await load('fresh_people', '20240901T02', ['--reload']);
  const decided = async (schema: string) => ({
    ...(await snapshotSchema(pool, schema)),
    sessions: (await pool.query(`SELECT to_jsonb(s) AS row FROM "${schema}".sessions s ORDER BY project, amplitude_id, session_id`)).rows.map((r) => JSON.stringify(r)),
    merged_ids: (await pool.query(`SELECT to_jsonb(m) AS row FROM "${schema}".merged_ids m ORDER BY project, merged_amplitude_id`)).rows.map((r) => JSON.stringify(r)),
  });
  assert.deepEqual(await decided('upgraded'), await decided('fresh_people'));
});
