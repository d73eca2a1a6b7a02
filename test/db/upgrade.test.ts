import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runLoad } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';
import { serveWorkload, snapshotSchema } from '../helpers/workload.js';

// The warehouse the loader left before the dedup redesign, made as the fixture's header says.
const LEGACY_DUMP = fileURLToPath(new URL('../../../test/fixtures/legacy-0004.sql', import.meta.url));

const fixtures = useLoaderFixtures(async ({ api }) => {
  await serveWorkload(api, { day: '20240801', hours: 4, eventsPerHour: 40 });
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
