import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loaderEnv, runCli, runLoad, startCli } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours, assertRollups } from '../helpers/invariants.js';
import { serveWorkload } from '../helpers/workload.js';

// Two Amplitude projects exporting the same hours (the fake Export API serves one archive per hour to
// any key): the same uuids in both, which only dedup per project keeps apart.
let range = '';
const fixtures = useLoaderFixtures(async ({ api }) => {
  range = await serveWorkload(api, { day: '20240905', hours: 4, eventsPerHour: 400 });
});

/** A project's rows as a single-project load would leave them: everything but the project and when. */
async function projectRows(schema: string, project: string): Promise<string[]> {
  const { rows } = await fixtures.db.pool.query<{ row: string }>(
    `SELECT (to_jsonb(e) - 'project' - 'loaded_at')::text AS row FROM "${schema}".events e WHERE project = $1 ORDER BY uuid`,
    [project],
  );
  return rows.map((r) => r.row);
}

test('two projects loading the same hours into one warehouse at once both end complete, each as if alone', async () => {
  const reference = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'alone', '--range', range]);
  assert.equal(reference.code, 0, reference.stderr);
  const alone = await projectRows('alone', 'default');
  assert.ok(alone.length > 1000);

  const env = loaderEnv(fixtures.api.url, fixtures.db.url);
  const runs = [
    startCli(['load', '--range', range, '--project', 'web', '--concurrency', '2'], env),
    startCli(['load', '--range', range, '--concurrency', '2'], { ...env, AMPLITUDE_PROJECT: 'app' }),
  ];
  for (const run of runs) {
    const result = await run.result;
    assert.equal(result.code, 0, result.stdout + result.stderr);
  }
  assert.deepEqual(await projectRows('amplitude', 'web'), alone);
  assert.deepEqual(await projectRows('amplitude', 'app'), alone);
  const { rows: hours } = await fixtures.db.pool.query(
    `SELECT project, count(*)::int AS loaded FROM amplitude_loader.upload_hours WHERE status = 'loaded' GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(hours, [
    { project: 'app', loaded: 4 },
    { project: 'web', loaded: 4 },
  ]);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
  await assertRollups(fixtures.db.pool, 'amplitude');
  const { rows: dau } = await fixtures.db.pool.query(`SELECT project, sum(active_users)::int AS n FROM amplitude.daily_active_users GROUP BY 1 ORDER BY 1`);
  assert.equal(dau.length, 2);
  assert.equal(dau[0].n, dau[1].n, 'the same users, counted in each project');

  // Each project is its own: a rerun of one requests nothing; a third sees nothing loaded.
  const requests = fixtures.api.requests.length;
  const again = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range, '--project', 'web']);
  assert.match(again.stdout, /already loaded or empty: 4/);
  assert.equal(fixtures.api.requests.length, requests);
  const { rows: coverage } = await fixtures.db.pool.query(`SELECT project, hours_done::int, hours_missing::int FROM amplitude.coverage ORDER BY 1`);
  assert.deepEqual(coverage, [
    { project: 'app', hours_done: 4, hours_missing: 0 },
    { project: 'web', hours_done: 4, hours_missing: 0 },
  ]);
  const status = JSON.parse((await runCli(['status', '--json'], { DATABASE_URL: fixtures.db.url })).stdout);
  assert.deepEqual(status.projects.map((p: { project: string; hours: { loaded: number } }) => [p.project, p.hours.loaded]), [['app', 4], ['web', 4]]);
});

test('--reload of one project leaves the other untouched', async () => {
  const before = await projectRows('amplitude', 'app');
  const { rows: appLoaded } = await fixtures.db.pool.query(`SELECT max(finished_at)::text AS at FROM amplitude_loader.upload_hours WHERE project = 'app'`);
  const reload = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range, '--project', 'web', '--reload']);
  assert.equal(reload.code, 0, reload.stderr);
  assert.deepEqual(await projectRows('amplitude', 'web'), before);
  // Its archives unchanged, the reload keeps web's rows as they were; its hours are done again.
  const { rows } = await fixtures.db.pool.query(
    `SELECT project, max(finished_at) > $1::timestamptz AS reloaded FROM amplitude_loader.upload_hours GROUP BY 1 ORDER BY 1`,
    [appLoaded[0].at],
  );
  assert.deepEqual(rows, [{ project: 'app', reloaded: false }, { project: 'web', reloaded: true }]);
  await assertRollups(fixtures.db.pool, 'amplitude');
});

test('a project name that is not a plain name is refused before anything runs', async () => {
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range, '--project', 'web prod']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--project must be 1 to 63 letters, digits, '_', '\.' or '-'/);
});
