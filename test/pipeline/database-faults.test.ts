import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loaderEnv, startCli } from '../helpers/cli.js';
import { databaseUrl } from '../helpers/database.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { serveWorkload, snapshotSchema } from '../helpers/workload.js';

let range = '';
let proxy: TcpProxy;
const fixtures = useLoaderFixtures(async ({ api, db }) => {
  range = await serveWorkload(api, { day: '20240901', hours: 6, eventsPerHour: 3000 });
  const target = new URL(db.url);
  proxy = await new TcpProxy(target.hostname, Number(target.port || 5432)).start();
});

after(async () => proxy?.close());

function load(schema: string, url = fixtures.db.url) {
  return startCli(['load', '--range', range, '--schema', schema, '--concurrency', '2', '--retry-delay-ms', '200'], loaderEnv(fixtures.api.url, url));
}

function proxiedUrl(): string {
  const url = new URL(databaseUrl(fixtures.db.name));
  url.host = `127.0.0.1:${proxy.port}`;
  return url.toString();
}

test('a COPY whose backend is terminated rolls back and is retried; the table ends as a clean load', async () => {
  const clean = await load('clean').result;
  assert.equal(clean.code, 0, clean.stderr);
  const run = load('terminated');
  let terminated = 0;
  for (let i = 0; i < 400 && terminated < 2 && run.child.exitCode === null; i++) {
    const { rows } = await fixtures.db.pool.query(
      `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'COPY %"events"%' AND state = 'active'`,
    );
    terminated += rows.filter((r) => r.done).length;
    await sleep(terminated > 0 ? 300 : 10);
  }
  assert.ok(terminated > 0, 'a COPY was caught in flight');
  const result = await run.result;
  assert.equal(result.code, 0, result.stdout + result.stderr);
  // The server says why (57P01) unless a COPY write hits the closed socket before that is read.
  assert.match(result.stderr, /"event":"retry".*"code":"DATABASE".*(SQLSTATE 57P01|connection to PostgreSQL was lost|Connection terminated)/);
  assert.deepEqual(await snapshotSchema(fixtures.db.pool, 'terminated'), await snapshotSchema(fixtures.db.pool, 'clean'));
});

test('a database outage mid-run: hours in flight roll back, are retried, and the run completes', async () => {
  const run = load('outage', proxiedUrl());
  await run.waitFor(/"event":"planned"/);
  await sleep(500);
  await proxy.outage(1500);
  const result = await run.result;
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stderr, /"event":"retry"/);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'outage');
  assert.deepEqual(await snapshotSchema(fixtures.db.pool, 'outage'), await snapshotSchema(fixtures.db.pool, 'clean'));
});

test('an outage longer than the retries fails hours cleanly and never hangs', async () => {
  const run = startCli(
    ['load', '--range', range, '--schema', 'long_outage', '--concurrency', '2', '--retries', '1', '--retry-delay-ms', '50'],
    loaderEnv(fixtures.api.url, proxiedUrl()),
  );
  await run.waitFor(/"event":"planned"/);
  await sleep(500);
  const outage = proxy.outage(4000);
  const result = await run.result;
  await outage;
  assert.ok(result.code === 1 || result.code === 0, `exit ${result.code}: ${result.stderr}`);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'long_outage');
  const rerun = await load('long_outage').result;
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(await snapshotSchema(fixtures.db.pool, 'long_outage'), await snapshotSchema(fixtures.db.pool, 'clean'));
});
