import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { DEFAULT_SESSION } from '../../src/db/pool.js';
import { ClaimSession } from '../../src/state/hour-claims.js';
import { loaderEnv, runCli, startCli } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { makeEvent } from '../helpers/events.js';
import { serveWorkload, snapshotSchema } from '../helpers/workload.js';

let range = '';
const fixtures = useLoaderFixtures(async ({ api }) => {
  range = await serveWorkload(api, { day: '20240701', hours: 8, eventsPerHour: 400 });
});

function load(schema: string, hours: string) {
  return startCli(['load', '--range', hours, '--schema', schema, '--concurrency', '2', '--retry-delay-ms', '20'], loaderEnv(fixtures.api.url, fixtures.db.url));
}

test('three loaders on overlapping ranges, started together on an empty schema, load each hour once', async () => {
  const clean = await load('single', range).result;
  assert.equal(clean.code, 0, clean.stderr);
  const requestsBefore = fixtures.api.requests.length;
  const results = await Promise.all([
    load('shared', '20240701T00..20240701T05').result,
    load('shared', '20240701T02..20240701T07').result,
    load('shared', range).result,
  ]);
  for (const result of results) assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(await snapshotSchema(fixtures.db.pool, 'shared'), await snapshotSchema(fixtures.db.pool, 'single'));
  const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS hours, max(attempts) AS most FROM shared_loader.upload_hours WHERE status = 'loaded'`);
  assert.deepEqual(rows, [{ hours: 8, most: 1 }]);
  assert.equal(fixtures.api.requests.length - requestsBefore, 8, 'each hour was requested once');
  const loadedByEach = results.map((r) => Number(/hours loaded: +(\d+)/.exec(r.stdout)?.[1]));
  assert.equal(loadedByEach.reduce((a, b) => a + b, 0), 8);
});

async function holdOwnerLock(ownerId: number): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: fixtures.db.url });
  client.on('error', () => {});
  await client.connect();
  await client.query('SELECT pg_advisory_lock(1095585868, $1)', [ownerId]);
  return client;
}

async function claimAs(schema: string, hour: string, ownerId: number, leaseSeconds: number) {
  await fixtures.db.pool.query(
    `INSERT INTO "${schema}_loader".hour_claims (project, upload_hour, owner_id, owner, lease_until) VALUES ('default', $1, $2, 'stuck-loader', now() + make_interval(secs => $3))`,
    [hour, ownerId, leaseSeconds],
  );
}

test('an hour held by a live loader is waited for, then taken over once its owner is gone', async () => {
  fixtures.api.archive('20240702T00', await hourArchive('20240702T00', [ndjson([makeEvent({ event_time: '2024-07-02 00:10:00' })])]));
  const migrated = await runCli(['migrate', '--schema', 'takeover'], { DATABASE_URL: fixtures.db.url });
  assert.equal(migrated.code, 0, migrated.stderr);
  const stuck = await holdOwnerLock(4242);
  let result;
  try {
    await claimAs('takeover', '2024-07-02 00:00Z', 4242, 600);
    const run = load('takeover', '20240702T00');
    await sleep(1500);
    assert.equal(run.child.exitCode, null, 'the loader waits while the owner lives and its lease runs');
    assert.equal(fixtures.api.requestsFor('20240702T00').length, 0);
    await stuck.end();
    result = await run.result;
  } finally {
    await stuck.end().catch(() => {});
  }
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /hours loaded: +1/);
});

test('a claim whose lease ran out is taken over even while its owner still holds its lock', async () => {
  const hung = await holdOwnerLock(4343);
  try {
    await claimAs('takeover', '2024-07-01 23:00Z', 4343, -1);
    fixtures.api.archive('20240701T23', await hourArchive('20240701T23', [ndjson([makeEvent({ event_time: '2024-07-01 23:10:00' })])]));
    const result = await load('takeover', '20240701T23').result;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /hours loaded: +1/);
    const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM takeover_loader.hour_claims`);
    assert.equal(rows[0].n, 0);
  } finally {
    await hung.end();
  }
});

test('a loader takes back its own claim, left behind when releasing it failed', async () => {
  const session = new ClaimSession({ connectionString: fixtures.db.url, target: { schema: 'takeover', project: 'default' }, leaseSeconds: 60, session: DEFAULT_SESSION });
  try {
    assert.equal(await session.tryClaim('2024-07-03T00:00:00.000Z', false), 'claimed');
    assert.equal(await session.tryClaim('2024-07-03T00:00:00.000Z', false), 'claimed');
    const other = new ClaimSession({ connectionString: fixtures.db.url, target: { schema: 'takeover', project: 'default' }, leaseSeconds: 60, session: DEFAULT_SESSION });
    try {
      assert.equal(await other.tryClaim('2024-07-03T00:00:00.000Z', false), 'held');
    } finally {
      await other.close();
    }
  } finally {
    await session.close();
  }
});
