import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loaderEnv, startCli } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';
import { serveWorkload } from '../helpers/workload.js';

let range = '';
const fixtures = useLoaderFixtures(async ({ api }) => {
  // Every hour downloads slowly, so a signal always finds hours in flight.
  range = await serveWorkload(api, { day: '20240801', hours: 10, eventsPerHour: 300, slowHours: 10 });
});

function load(schema: string) {
  return startCli(['load', '--range', range, '--schema', schema, '--concurrency', '2', '--retry-delay-ms', '20'], loaderEnv(fixtures.api.url, fixtures.db.url));
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} stops claiming, rolls back the hours in flight, prints the summary and exits ${code}`, async () => {
    const schema = signal.toLowerCase();
    const run = load(schema);
    await run.waitFor(/"event":"planned"/);
    await sleep(800);
    const sentAt = Date.now();
    run.child.kill(signal);
    const result = await run.result;
    const seconds = (Date.now() - sentAt) / 1000;
    assert.equal(result.code, code, result.stderr);
    assert.ok(seconds < 10, `stopped after ${seconds}s`);
    assert.match(result.stdout, /Summary[\s\S]*interrupted: [1-9]/);
    assert.match(result.stderr, new RegExp(`${signal}: stopping`));
    await assertNoHalfLoadedHours(fixtures.db.pool, schema);
    const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM "${schema}_loader".hour_claims`);
    assert.equal(rows[0].n, 0, 'no claim is left behind');
  });
}

test('a second SIGINT exits at once, still leaving nothing half-loaded', async () => {
  const run = load('twice');
  await run.waitFor(/"event":"planned"/);
  await sleep(800);
  run.child.kill('SIGINT');
  await sleep(20);
  run.child.kill('SIGINT');
  const result = await run.result;
  // 130, or killed by the signal itself when it lands while the process is already exiting after the
  // first one: a shell reports both as 130.
  assert.ok(result.code === 130 || run.child.signalCode === 'SIGINT', `exit ${result.code}, signal ${run.child.signalCode}`);
  // The server rolls back what the vanished client left open; give it a moment to notice.
  await sleep(300);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'twice');
});
