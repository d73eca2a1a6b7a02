import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runCli, startCli } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { FakeExportApi } from '../helpers/fake-export-api.js';

// These runs set no DATABASE_URL and no PG* variable: they use the embedded PostgreSQL, kept in
// `.amplitude-pg/` of their working directory, as a newcomer's first commands do.
let home: string;
let api: FakeExportApi;
before(async () => {
  home = await mkdtemp(join(tmpdir(), 'amplitude-pg-first-run-'));
  // As root the embedded server runs as the postgres user, which must reach its data folder.
  await chmod(home, 0o755);
  api = await new FakeExportApi().start();
  api.archive('20240301T05', await hourArchive('20240301T05', [ndjson([makeEvent({ event_time: '2024-03-01 05:10:00' })])]));
});
after(async () => {
  await api.close();
  await rm(home, { recursive: true, force: true });
});

test('npm run demo loads the sample export into the embedded PostgreSQL and prints the example queries', async () => {
  const result = await runCli(['demo'], {}, { cwd: home, timeoutMs: 170_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /hours loaded: +\d+/);
  assert.match(result.stdout, /Funnel: signup → add_to_cart → purchase[\s\S]*1 +signup +\d+\n2 +add_to_cart +\d+\n3 +purchase +\d+/);
  assert.match(result.stdout, /Retention by first-seen day[\s\S]*2024-03-01 +0 +\d+/);
  assert.match(result.stdout, /Top events by platform[\s\S]*Android +page_view +\d+/);
  assert.match(result.stdout, /psql "postgres:\/\/postgres:local-only@127\.0\.0\.1:54329\/amplitude_demo"/);
  assert.ok(existsSync(join(home, '.amplitude-pg', 'postgres', 'PG_VERSION')), 'the data stays in the project folder');
});

test('without DATABASE_URL or PG*, load uses the embedded PostgreSQL and says so; status reads it', async () => {
  const env = { AMPLITUDE_API_KEY: 'test-api-key', AMPLITUDE_SECRET_KEY: 'test-secret-key', AMPLITUDE_EXPORT_URL: api.url };
  const result = await runCli(['load', '--range', '20240301T05', '--log-format', 'text'], env, { cwd: home });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /no DATABASE_URL or PG\* variable is set: using the embedded PostgreSQL in .*\.amplitude-pg\/postgres/);
  assert.match(result.stdout, /hours loaded: +1\n/);
  const status = await runCli(['status', '--range', '20240301T05', '--json'], {}, { cwd: home });
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(JSON.parse(status.stdout).totals.loaded, 1);
});

test('npm run db keeps the embedded PostgreSQL up for a SQL client until Ctrl-C', async () => {
  const run = startCli(['db'], {}, { cwd: home });
  let output = '';
  run.child.stdout!.on('data', (d: Buffer) => (output += d));
  for (let i = 0; i < 300 && !output.includes('Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 50));
  const url = /psql "([^"]+)"/.exec(output)?.[1];
  assert.ok(url, output);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM amplitude.events`);
  await client.end();
  assert.equal(rows[0].n, 1);
  run.child.kill('SIGINT');
  const result = await run.result;
  assert.equal(result.code, 0);
});
