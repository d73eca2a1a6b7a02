import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loaderEnv, startCli } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { serveWorkload, snapshotSchema } from '../helpers/workload.js';

let range = '';
let tempDir = '';
const fixtures = useLoaderFixtures(async ({ api }) => {
  range = await serveWorkload(api, { day: '20240601', hours: 6, eventsPerHour: 1500, slowHours: 2 });
  tempDir = await mkdtemp(join(tmpdir(), 'amplitude-pg-crash-'));
});
after(async () => rm(tempDir, { recursive: true, force: true }));

/** Hours loaded so far; a kill can land before the first run has even created the schema. */
async function loadedHours(schema: string): Promise<number> {
  const { rows } = await fixtures.db.pool.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`"${schema}_loader".upload_hours`]);
  if (!rows[0].ok) return 0;
  const { rows: loaded } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM "${schema}_loader".upload_hours WHERE status = 'loaded'`);
  return loaded[0].n;
}

function load(schema: string) {
  return startCli(['load', '--range', range, '--schema', schema, '--concurrency', '2', '--retry-delay-ms', '20', '--temp-dir', tempDir], loaderEnv(fixtures.api.url, fixtures.db.url));
}

test('killed with SIGKILL at any moment, a rerun ends with exactly the rows of a clean run', async () => {
  const startedAt = Date.now();
  const clean = await load('clean').result;
  const cleanMs = Date.now() - startedAt;
  assert.equal(clean.code, 0, clean.stderr);
  const expected = await snapshotSchema(fixtures.db.pool, 'clean');
  assert.ok(expected.events!.length > 8000);

  // Each iteration kills a fresh load twice, then lets a third run finish. Kills land at points spread
  // over a clean run's duration, and one lands right after the first hour commits, so at least one
  // rerun starts from a range half loaded. A run that finishes before its kill must have succeeded.
  const killPoints: (number | 'first commit')[][] = [
    [0.05, 'first commit'],
    [0.2, 0.7],
    [0.35, 0.15],
    [0.65, 0.8],
  ];
  let kills = 0;
  for (const [iteration, points] of killPoints.entries()) {
    const schema = `crash_${iteration}`;
    for (const point of points) {
      const run = load(schema);
      if (point === 'first commit') {
        const before = await loadedHours(schema);
        while (run.child.exitCode === null && (await loadedHours(schema)) === before) await sleep(10);
      } else {
        await sleep(Math.round(point * cleanMs));
      }
      run.child.kill('SIGKILL');
      const ended = await run.result;
      if (ended.signal === 'SIGKILL') kills++;
      else assert.equal(ended.code, 0, ended.stderr);
      if (point === 'first commit') {
        const loaded = await loadedHours(schema);
        assert.ok(loaded > 0 && loaded < 6, `killed after the first commit with ${loaded} of 6 hours loaded`);
      }
    }
    const rerun = await load(schema).result;
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
    assert.deepEqual(await snapshotSchema(fixtures.db.pool, schema), expected, `schema ${schema}`);
  }
  assert.deepEqual(await readdir(tempDir), [], 'no archive is left behind');
  assert.ok(kills >= 5, `only ${kills} of 8 kills found the loader running`);
});

test('a killed run leaves its temp file, and the next run removes it', async () => {
  const run = load('temp_files');
  // The first hours download slowly: wait until an archive is in the run's private folder (on a busy
  // machine the run may take seconds to start), then kill.
  const archivesOnDisk = async () => (await readdir(tempDir, { recursive: true })).filter((name) => name.endsWith('.zip')).length;
  for (let i = 0; i < 1000 && (await archivesOnDisk()) === 0; i++) await sleep(20);
  run.child.kill('SIGKILL');
  await run.result;
  assert.ok((await archivesOnDisk()) > 0, 'the killed run left an archive');
  const rerun = await load('temp_files').result;
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stderr, /removed \d+ archive\(s\) a stopped loader left/);
  assert.deepEqual(await readdir(tempDir), []);
});
