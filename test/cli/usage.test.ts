import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FLAGS, type FlagSpec } from '../../src/flags.js';
import { runCli } from '../helpers/cli.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

const fixtures = useLoaderFixtures();
const env = () => ({
  AMPLITUDE_API_KEY: 'test-api-key',
  AMPLITUDE_SECRET_KEY: 'test-secret-key',
  AMPLITUDE_EXPORT_URL: fixtures.api.url,
  DATABASE_URL: fixtures.db.url,
});

test('a bad range, a reversed range or one of more than a century exits 2 before any request', async () => {
  const cases: [string, RegExp][] = [
    ['2024-03-01', /not an upload hour/],
    ['20240230T00', /not a real date/],
    ['20240302..20240301', /ends \(20240301T23\) before it starts \(20240302T00\)/],
    ['19240101..20250101', /covers 101 years; at most 100 in one run/],
  ];
  for (const [range, message] of cases) {
    const result = await runCli(['load', '--range', range], env());
    assert.equal(result.code, 2, range);
    assert.match(result.stderr, message);
  }
  const longest = await runCli(['load', '--range', '20230101..20231231', '--concurrency', 'many'], env());
  assert.equal(longest.code, 2);
  assert.match(longest.stderr, /--concurrency must be a whole number/);
  assert.equal(fixtures.api.requests.length, 0);
});

test('missing credentials, an unknown flag or region exit 2', async () => {
  const missing = await runCli(['load', '--range', '20240301T00'], { DATABASE_URL: fixtures.db.url, AMPLITUDE_EXPORT_URL: fixtures.api.url });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY must be set/);
  const unknown = await runCli(['load', '--range', '20240301T00', '--fast'], env());
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, "amplitude-pg: unknown flag --fast (--help lists every flag)\n");
  const region = await runCli(['load', '--range', '20240301T00'], { ...env(), AMPLITUDE_REGION: 'apac' });
  assert.equal(region.code, 2);
  assert.match(region.stderr, /AMPLITUDE_REGION must be "us" or "eu"/);
  assert.equal(fixtures.api.requests.length, 0);
});

test('a database that cannot be reached exits 2 without printing its password', async () => {
  const result = await runCli(['load', '--range', '20240301T00'], {
    ...env(),
    DATABASE_URL: 'postgres://loader:hunter2-pw@127.0.0.1:1/nowhere',
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /connecting to the server at "127\.0\.0\.1", port 1, database "nowhere" and applying migrations failed: .*ECONNREFUSED/);
  assert.doesNotMatch(result.stderr, /--help/, 'nothing was wrong with the flags');
  assert.doesNotMatch(result.stdout + result.stderr, /hunter2-pw|loader:/);
});

test('without DATABASE_URL the libpq PG* variables choose the database', async () => {
  const url = new URL(fixtures.db.url);
  const result = await runCli(['load', '--range', '20200102T00'], {
    AMPLITUDE_API_KEY: 'test-api-key',
    AMPLITUDE_SECRET_KEY: 'test-secret-key',
    AMPLITUDE_EXPORT_URL: fixtures.api.url,
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username),
    PGDATABASE: url.pathname.slice(1),
    ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}),
  });
  assert.equal(result.code, 0, result.stderr);
  const { rows } = await fixtures.db.pool.query(`SELECT status FROM amplitude_loader.upload_hours WHERE upload_hour = '2020-01-02 00:00Z'`);
  assert.deepEqual(rows, [{ status: 'empty' }]);
});

test('--help documents every flag the parser takes, with its variable and its default, from the one table', async () => {
  const result = await runCli(['--help'], {});
  assert.equal(result.code, 0);
  for (const [name, spec] of Object.entries(FLAGS as Record<string, FlagSpec>)) {
    const line = new RegExp(`^ {2}--${name}\\b`, 'm');
    assert.match(result.stdout, line, name);
    if (spec.env) assert.ok(result.stdout.includes(spec.env), `${name}: ${spec.env}`);
  }
  assert.match(result.stdout, /--concurrency N +hours in flight at once \(Amplitude allows about 5 requests\), default 4\n/);
  assert.match(result.stdout, /--max-line-bytes N +one NDJSON line may be at most this long, default 64 MiB\n/);
  assert.ok(result.stdout.split('\n').every((line) => line.length <= 104), 'lines fit 104 columns');
  for (const word of ['PGHOST', '.env']) assert.ok(result.stdout.includes(word), word);
});

test('usage errors are one line naming the flag; flags npm kept for itself (a missing "--") are said', async () => {
  const requests = fixtures.api.requests.length;
  const cases: [string[], string][] = [
    [['load', '--range', '20240301T00', '--retries', '-1'], 'amplitude-pg: --retries needs a value (one that starts with "-" is written --retries=-1) (--help lists every flag)\n'],
    [['load', '--range', '20240301T00', '--retries=-1'], 'amplitude-pg: --retries must be a whole number from 0 to 100, not "-1" (--help lists every flag)\n'],
    [['load', '--range', '20240301T00', '--reload=yes'], 'amplitude-pg: --reload takes no value (--help lists every flag)\n'],
    [['load', '--range'], 'amplitude-pg: --range needs a value (one that starts with "-" is written --range=-1) (--help lists every flag)\n'],
  ];
  for (const [args, stderr] of cases) {
    const result = await runCli(args, env());
    assert.equal(result.code, 2, args.join(' '));
    assert.equal(result.stderr, stderr, args.join(' '));
  }
  // `npm run load --range 20240301`: npm keeps --range (npm_config_range) and passes on 20240301.
  const npm = await runCli(['load', '20240301'], { ...env(), npm_lifecycle_event: 'load', npm_config_range: 'true' });
  assert.equal(npm.code, 2);
  assert.equal(npm.stderr, 'amplitude-pg: npm took --range for itself: npm run passes flags on only after "--", as in npm run load -- --range 20240301 (--help lists every flag)\n');
  assert.equal(fixtures.api.requests.length, requests, 'nothing was requested');
});

test('a .env file in the working directory is read, and the environment and flags win over it', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'amplitude-pg-dotenv-'));
  try {
    await writeFile(
      join(folder, '.env'),
      `AMPLITUDE_API_KEY=test-api-key\nAMPLITUDE_SECRET_KEY=test-secret-key\nAMPLITUDE_EXPORT_URL=${fixtures.api.url}\nDATABASE_URL=${fixtures.db.url}\n`,
    );
    const fromFile = await runCli(['load', '--range', '20200101T00'], {}, { cwd: folder });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fixtures.api.requestsFor('20200101T00').length, 1);
    const envWins = await runCli(['load', '--range', '20200101T01'], { AMPLITUDE_SECRET_KEY: 'other' }, { cwd: folder });
    assert.equal(envWins.code, 2);
    const flagWins = await runCli(['load', '--range', '20200101T02', '--secret-key', 'test-secret-key'], { AMPLITUDE_SECRET_KEY: 'other' }, { cwd: folder });
    assert.equal(flagWins.code, 0, flagWins.stderr);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('every command prints the package version, and the package names the CLI as its bin', async () => {
  const manifest = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };
  for (const command of ['load', 'status', 'migrate', 'demo', 'db']) {
    const result = await runCli([command, '--version'], {});
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `amplitude-pg ${manifest.version}\n`);
  }
  const bin = new URL(`../../../${manifest.bin['amplitude-pg']}`, import.meta.url);
  assert.match(await readFile(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('a range entirely in the future says nothing is available yet, and requests nothing', async () => {
  const requests = fixtures.api.requests.length;
  const result = await runCli(['load', '--range', '20990101T00..20990101T05', '--log-format', 'text'], env());
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /none of these hours is available yet: the last available hour is \d{8}T\d{2} \(Amplitude exports an hour about 2 hours after it ends\)/);
  assert.match(result.stdout, /not yet available: 6/);
  assert.equal(fixtures.api.requests.length, requests);
});
