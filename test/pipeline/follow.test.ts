import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { loaderEnv, runLoad, startCli } from '../helpers/cli.js';
import { databaseUrl } from '../helpers/database.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let proxy: TcpProxy;
const fixtures = useLoaderFixtures(async ({ db }) => {
  const target = new URL(db.url);
  proxy = await new TcpProxy(target.hostname, Number(target.port || 5432)).start();
});
after(async () => proxy?.close());

/** The upload hour `n` hours before the current one, as `YYYYMMDDTHH`. */
function hoursAgo(n: number): string {
  const at = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - n * 3_600_000).toISOString();
  return `${at.slice(0, 4)}${at.slice(5, 7)}${at.slice(8, 10)}T${at.slice(11, 13)}`;
}

function iso(label: string): string {
  return `${label.slice(0, 4)}-${label.slice(4, 6)}-${label.slice(6, 8)}T${label.slice(9)}:00:00.000Z`;
}

async function serve(label: string) {
  const time = `${label.slice(0, 4)}-${label.slice(4, 6)}-${label.slice(6, 8)} ${label.slice(9)}:20:00`;
  fixtures.api.archive(label, await hourArchive(label, [ndjson([makeEvent({ event_time: time, server_upload_time: time })])]));
}

async function statuses(schema: string): Promise<Record<string, string>> {
  const { rows } = await fixtures.db.pool.query(`SELECT upload_hour, status FROM "${schema}_loader".upload_hours`);
  return Object.fromEntries(rows.map((r) => [(r.upload_hour as Date).toISOString(), r.status]));
}

test('--since-last needs a start on the first run', async () => {
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'first', '--since-last']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /the first run needs a start, e\.g\. --since/);
});

test('--since loads up to the last available hour; --since-last then resumes after it and retries failures', async () => {
  const [h5, h4, h3] = [hoursAgo(5), hoursAgo(4), hoursAgo(3)];
  await serve(h5);
  fixtures.api.answer(h4, { status: 500, body: 'down' });
  await serve(h3);
  const first = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'since', '--since', h5, '--retries', '0']);
  assert.equal(first.code, 1);
  let state = await statuses('since');
  assert.equal(state[iso(h5)], 'loaded');
  assert.equal(state[iso(h4)], 'failed');
  assert.equal(state[iso(h3)], 'loaded');
  assert.equal(state[iso(hoursAgo(2))], undefined, 'an hour within the availability lag is not requested');

  await serve(h4);
  const requests = fixtures.api.requestsFor(h5).length;
  const resumed = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'since', '--since-last']);
  assert.equal(resumed.code, 0, resumed.stderr);
  state = await statuses('since');
  assert.equal(state[iso(h4)], 'loaded');
  assert.equal(fixtures.api.requestsFor(h5).length, requests, 'loaded hours are not requested again');
});

test('--since START loads every hour from START not yet loaded, the holes before the newest loaded one included', async () => {
  const [h8, h7, h6, h5, h4] = [hoursAgo(8), hoursAgo(7), hoursAgo(6), hoursAgo(5), hoursAgo(4)];
  for (const label of [h8, h7, h6, h5, h4]) await serve(label);
  // A stray later hour first: --since-last would resume after it.
  const stray = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'holes', '--range', h4]);
  assert.equal(stray.code, 0, stray.stderr);
  const requested = fixtures.api.requestsFor(h4).length;
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'holes', '--since', h8, '--retries', '0']);
  assert.equal(result.code, 0, result.stderr);
  const state = await statuses('holes');
  for (const label of [h8, h7, h6, h5, h4]) assert.equal(state[iso(label)], 'loaded', `${label} is loaded`);
  assert.equal(fixtures.api.requestsFor(h4).length, requested, 'the hour already loaded is not requested again');
});

test('--follow loads new hours, retries failed ones with backoff, rides out a database outage, and stops on SIGTERM', async () => {
  const [h4, h3] = [hoursAgo(4), hoursAgo(3)];
  await serve(h4);
  fixtures.api.answer(h3, { status: 503, body: 'busy' });
  const askedBefore = fixtures.api.requestsFor(h3).length;
  const url = new URL(databaseUrl(fixtures.db.name));
  url.host = `127.0.0.1:${proxy.port}`;
  const run = startCli(
    ['load', '--schema', 'follow', '--follow', '--since', h4, '--retries', '0', '--retry-delay-ms', '100'],
    loaderEnv(fixtures.api.url, url.toString()),
  );
  const waitFor = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 300; i++) {
      if (await check().catch(() => false)) return;
      assert.equal(run.child.exitCode, null, `the follower exited while waiting for ${what}`);
      await sleep(50);
    }
    run.child.kill('SIGKILL');
    const { stderr } = await run.result;
    assert.fail(`timed out waiting for ${what}:\n${stderr}`);
  };
  await waitFor('the failing hour to be retried', async () => fixtures.api.requestsFor(h3).length >= askedBefore + 3);
  await proxy.outage(1500);
  await serve(h3);
  await waitFor('the hour to load after the outage', async () => (await statuses('follow'))[iso(h3)] === 'loaded');
  assert.equal((await statuses('follow'))[iso(h4)], 'loaded');
  // Still running: each pass that loaded hours has left the rollups' pending tables vacuumed, as the
  // end of a run does (vacuum_count counts only vacuums asked for, not autovacuum's).
  await waitFor('the pending tables to be vacuumed', async () => {
    const { rows } = await fixtures.db.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_user_tables WHERE schemaname = 'follow_loader' AND relname LIKE '%pending%' AND vacuum_count > 0`,
    );
    return rows[0].n === 6;
  });
  run.child.kill('SIGTERM');
  const result = await run.result;
  assert.equal(result.code, 143, result.stderr);
  assert.match(result.stdout, /Summary/);
  assert.match(result.stderr, /"event":"notice".*next pass in/);
});

test('a range of any length is planned and printed before the first request; --dry-run checks the database and credentials and loads nothing', async () => {
  // Two years, more than the Export API's 365 days per request.
  const range = '20220101..20231231';
  const dry = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range, '--dry-run']);
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, /^dry run: nothing is requested but one check of the credentials/);
  assert.match(dry.stdout, /database: server at "127\.0\.0\.1", port \d+, database "\w+", schema amplitude: the warehouse is there and up to date/);
  assert.match(dry.stdout, /credentials: accepted by http:\/\/127\.0\.0\.1:\d+ \(HTTP 404 for \d{8}T\d{2}, the current hour\)/);
  assert.match(dry.stdout, /plan: 17520 hour\(s\) to load \(20220101T00\.\.20231231T23\); of the 17520 asked for, 0 already loaded or empty, 0 not yet available/);
  assert.equal(fixtures.api.requests.filter((r) => r.start?.startsWith('2022') || r.start?.startsWith('2023')).length, 0, 'no hour of the range was requested');

  // On a schema with no warehouse: what a load would do, and nothing created.
  const fresh = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'dry', '--since', hoursAgo(10), '--dry-run']);
  assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
  assert.match(fresh.stdout, /schema dry holds no warehouse .*a load would do that first/);
  assert.match(fresh.stdout, /plan: 8 hour\(s\) to load/);
  const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'dry%'`);
  assert.equal(rows[0].n, 0);

  // Refused credentials: exit 2, said.
  const refused = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range, '--dry-run'], { AMPLITUDE_SECRET_KEY: 'wrong' });
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /credentials: refused: the Export API refused the credentials \(HTTP 403\)/);

  // A real run prints the same plan before its first hour.
  const [h3] = [hoursAgo(3)];
  await serve(h3);
  const run = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'planned', '--range', `${hoursAgo(4)}..${hoursAgo(1)}`]);
  assert.equal(run.code, 0, run.stderr);
  const events = run.stderr.trim().split('\n').map((line) => JSON.parse(line) as { event: string; hours_asked?: number; hours_not_yet_available?: number });
  const planned = events.findIndex((e) => e.event === 'planned');
  assert.ok(planned >= 0 && planned < events.findIndex((e) => e.event === 'hour'), 'the plan comes before the first hour');
  assert.equal(events[planned]?.hours_asked, 4);
  assert.equal(events[planned]?.hours_not_yet_available, 2, 'the last two hours are within the availability lag');
});

test('--follow waits for a database that is down at start, saying so at each attempt; a refused login still stops it', async () => {
  const h3 = hoursAgo(3);
  await serve(h3);
  // A port nothing listens on yet: connections are refused, as while a server starts.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const url = new URL(databaseUrl(fixtures.db.name));
  url.host = `127.0.0.1:${port}`;
  const run = startCli(['load', '--schema', 'later', '--follow', '--since', h3, '--retries', '0', '--retry-delay-ms', '100'], loaderEnv(fixtures.api.url, url.toString()));
  await run.waitFor(/the database cannot be reached yet \(attempt 2\): .*ECONNREFUSED.*; trying again in/, 30_000);
  const target = new URL(fixtures.db.url);
  const late = await new TcpProxy(target.hostname, Number(target.port || 5432)).start(port);
  try {
    for (let i = 0; i < 300 && (await statuses('later').catch(() => ({}) as Record<string, string>))[iso(h3)] !== 'loaded'; i++) await sleep(100);
    assert.equal((await statuses('later'))[iso(h3)], 'loaded', run.output());
    run.child.kill('SIGTERM');
    assert.equal((await run.result).code, 143);
  } finally {
    await late.close();
  }

  const wrong = new URL(databaseUrl('no_such_database_here'));
  const refused = await runLoad(fixtures.api.url, wrong.toString(), ['--follow', '--since', h3]);
  assert.equal(refused.code, 2, 'a database that does not exist is a configuration to fix, not an outage');
  assert.doesNotMatch(refused.stderr, /cannot be reached yet/);
});
