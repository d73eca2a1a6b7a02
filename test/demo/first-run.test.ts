import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { isReachable } from '../../src/db/embedded-postgres.js';
import { runCli, startCli, type CliOptions, type RunningCli } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { FakeExportApi } from '../helpers/fake-export-api.js';

// These runs set no DATABASE_URL and no PG* variable: they use the embedded PostgreSQL, as a
// newcomer's first commands do, from a copy of this checkout inside a folder only its owner may enter
// (as a clone in root's home is): as root, the server's `postgres` account cannot reach it.
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
let outer: string;
let checkout: string;
let cli: CliOptions;
let api: FakeExportApi;
const dataFolders = new Set<string>();

before(async () => {
  outer = await mkdtemp(join(tmpdir(), 'amplitude-pg-first-run-'));
  await chmod(outer, 0o700);
  checkout = join(outer, 'amplitude-pg');
  await mkdir(checkout);
  for (const part of ['package.json', 'dist', 'sql', 'node_modules']) {
    await cp(join(PROJECT, part), join(checkout, part), { recursive: true, verbatimSymlinks: true });
  }
  cli = { cwd: checkout, cliPath: join(checkout, 'dist', 'src', 'cli', 'main.js'), timeoutMs: 170_000 };
  api = await new FakeExportApi().start();
  // An hour the demo's sample does not have.
  api.archive('20240401T05', await hourArchive('20240401T05', [ndjson([makeEvent({ event_time: '2024-04-01 05:10:00' })])]));
});
after(async () => {
  await api.close();
  await rm(outer, { recursive: true, force: true });
  // Data the server's account could not keep inside the checkout lives in the shared temp folder.
  for (const folder of dataFolders) if (!folder.startsWith(outer)) await rm(folder, { recursive: true, force: true });
});

/** The data folder a command said it uses; remembered for cleanup. */
function dataFolder(output: string): string {
  const folder = /(?:kept in|data in) (\/\S+?\/postgres)\b/.exec(output)?.[1];
  assert.ok(folder, `no data folder named in:\n${output}`);
  dataFolders.add(join(folder, '..'));
  return folder;
}

test('a failure of the embedded server is one clear message and exit 2, not a stack trace or a hang', async () => {
  const broken = await mkdtemp(join(tmpdir(), 'amplitude-pg-broken-'));
  try {
    await chmod(broken, 0o755);
    // A data folder of a PostgreSQL major this server cannot read.
    await mkdir(join(broken, '.amplitude-pg'), { mode: 0o755 });
    await mkdir(join(broken, '.amplitude-pg', 'postgres'), { mode: 0o700 });
    await writeFile(join(broken, '.amplitude-pg', 'postgres', 'PG_VERSION'), '99\n');
    const result = await runCli(['status', '--range', '20240301'], {}, { cwd: broken, timeoutMs: 90_000 });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /the embedded PostgreSQL could not start \(binaries \/\S+, data \S+\.amplitude-pg\/postgres, port \d+/);
    assert.match(result.stderr, /Set DATABASE_URL/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    await rm(broken, { recursive: true, force: true });
  }
});

test('npm run demo, from a checkout the server account cannot enter, loads the sample export and prints the example queries', async () => {
  const result = await runCli(['demo'], {}, cli);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /hours loaded: +\d+/);
  assert.match(result.stdout, /Funnel: signup → add_to_cart → purchase[\s\S]*1 +signup +\d+\n2 +add_to_cart +\d+\n3 +purchase +\d+/);
  assert.match(result.stdout, /Retention by first-seen day[\s\S]*2024-03-01 +0 +\d+/);
  assert.match(result.stdout, /Top events by platform[\s\S]*Android +page_view +\d+/);
  assert.match(result.stdout, /start the server with `npm run db`, which prints how to connect/);
  assert.doesNotMatch(result.stdout + result.stderr, /local-only/, 'the server has a password of its own, printed nowhere but by npm run db');
  const data = dataFolder(result.stdout);
  assert.ok(existsSync(join(data, 'PG_VERSION')), `the data is where the demo says: ${data}`);
  if (process.getuid?.() === 0) {
    assert.ok(!data.startsWith(outer), 'as root, the data lives where the postgres account can reach it');
    assert.match(result.stdout, /binaries in \/\S+ and data in /);
  } else {
    assert.equal(data, join(checkout, '.amplitude-pg', 'postgres'));
  }
});

test('without DATABASE_URL or PG*, load uses the embedded PostgreSQL and says so; status reads it', async () => {
  const env = { AMPLITUDE_API_KEY: 'test-api-key', AMPLITUDE_SECRET_KEY: 'test-secret-key', AMPLITUDE_EXPORT_URL: api.url };
  const result = await runCli(['load', '--range', '20240401T05', '--log-format', 'text'], env, cli);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /no DATABASE_URL or PG\* variable is set: using the embedded PostgreSQL \(binaries in \S+ and data in \S+\/postgres\)/);
  dataFolder(result.stderr);
  assert.match(result.stdout, /hours loaded: +1\n/);
  const status = await runCli(['status', '--range', '20240401T05', '--json'], {}, cli);
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(JSON.parse(status.stdout).totals.loaded, 1);
  // The demo's hours are in the same database: status sees them beside this one.
  const overview = await runCli(['status', '--json'], {}, cli);
  assert.equal(overview.code, 0, overview.stderr);
  const [project] = JSON.parse(overview.stdout).projects;
  assert.equal(project.first_done_hour, '20240301T00');
  assert.equal(project.last_done_hour, '20240401T05');
});

/** Starts `npm run db` in a checkout and waits for the psql URL it prints. */
async function runDb(options: CliOptions): Promise<{ run: RunningCli; url: string }> {
  const run = startCli(['db'], {}, options);
  await run.waitFor(/Ctrl-C/, 60_000);
  const url = /psql "([^"]+)"/.exec(run.output())?.[1];
  assert.ok(url, run.output());
  return { run, url };
}

async function loadedRows(url: string, hour: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM amplitude.events WHERE upload_hour = $1`, [hour]);
    return rows[0].n;
  } finally {
    await client.end();
  }
}

test('npm run db keeps the embedded PostgreSQL up for a SQL client until Ctrl-C', async () => {
  const { run, url } = await runDb(cli);
  assert.equal(await loadedRows(url, '2024-04-01 05:00Z'), 1);
  // A second npm run db finds it running: it says how to connect and to stop it, and exits 0.
  const second = await runCli(['db'], {}, cli);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /It was already running, started by another process: npm run db -- --stop stops it\./);
  assert.ok(second.stdout.includes(`psql "${url}"`));
  run.child.kill('SIGINT');
  const result = await run.result;
  assert.equal(result.code, 0);
  assert.equal(await isReachable(url), false, 'the server stopped with it');
});

test('a second checkout never uses the first one\'s server: it starts its own, on its own data, whatever port the first holds', async () => {
  const second = join(outer, 'second-checkout');
  await mkdir(second);
  for (const part of ['package.json', 'dist', 'sql']) await cp(join(checkout, part), join(second, part), { recursive: true, verbatimSymlinks: true });
  await symlink(join(checkout, 'node_modules'), join(second, 'node_modules'));
  const secondCli = { ...cli, cwd: second, cliPath: join(second, 'dist', 'src', 'cli', 'main.js') };
  const first = await runDb(cli);
  try {
    api.archive('20240401T06', await hourArchive('20240401T06', [ndjson([makeEvent({ event_time: '2024-04-01 06:10:00' })])]));
    const env = { AMPLITUDE_API_KEY: 'test-api-key', AMPLITUDE_SECRET_KEY: 'test-secret-key', AMPLITUDE_EXPORT_URL: api.url };
    const result = await runCli(['load', '--range', '20240401T06', '--log-format', 'text'], env, secondCli);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const data = dataFolder(result.stderr);
    assert.notEqual(data, dataFolder(first.run.output()), 'its own data folder');
    assert.notEqual(/127\.0\.0\.1:(\d+)/.exec(result.stderr)?.[1], String(new URL(first.url).port), 'its own port');
    assert.equal(await loadedRows(first.url, '2024-04-01 06:00Z'), 0, 'nothing reached the first checkout\'s warehouse');
  } finally {
    first.run.child.kill('SIGINT');
    await first.run.result;
  }
});

test('closing the terminal of npm run db (SIGHUP) stops its server; npm run db -- --stop stops one whose process is gone', async () => {
  const hungUp = await runDb(cli);
  hungUp.run.child.kill('SIGHUP');
  assert.equal((await hungUp.run.result).code, 0);
  assert.equal(await isReachable(hungUp.url), false, 'SIGHUP stopped the server');

  const killed = await runDb(cli);
  killed.run.child.kill('SIGKILL');
  await killed.run.result;
  assert.equal(await isReachable(killed.url), true, 'the server outlives a killed npm run db');
  const stopped = await runCli(['db', '--stop'], {}, cli);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /stopped the embedded PostgreSQL \(data \/\S+\/postgres, port \d+\)/);
  assert.equal(await isReachable(killed.url), false);
  const again = await runCli(['db', '--stop'], {}, cli);
  assert.match(again.stdout, /the embedded PostgreSQL of this checkout is not running/);
});
