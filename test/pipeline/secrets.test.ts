import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loaderEnv, runCli, startCli, type CliResult } from '../helpers/cli.js';
import { ADMIN_URL, databaseUrl } from '../helpers/database.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { serveWorkload } from '../helpers/workload.js';

const API_SECRET = 'test-secret-key';
// With trust authentication any password connects; a server that checks passwords has its own.
const DB_PASSWORD = new URL(ADMIN_URL).password || 'db-password-7Qz';

let range = '';
let proxy: TcpProxy;
const fixtures = useLoaderFixtures(async ({ api, db }) => {
  range = await serveWorkload(api, { day: '20241101', hours: 4, eventsPerHour: 2000 });
  const target = new URL(db.url);
  proxy = await new TcpProxy(target.hostname, Number(target.port || 5432)).start();
});
after(async () => proxy?.close());

/** The database URL through the proxy, with a password (trust authentication ignores it). */
function urlWithPassword(): string {
  const url = new URL(databaseUrl(fixtures.db.name));
  url.host = `127.0.0.1:${proxy.port}`;
  url.password = DB_PASSWORD;
  return url.toString();
}

function assertNoSecrets(result: CliResult, secrets: string[]): void {
  const output = result.stdout + result.stderr;
  for (const secret of secrets) {
    assert.ok(!output.includes(secret), `output contains ${secret}`);
    assert.ok(!output.includes(Buffer.from(secret).toString('base64')), `output contains ${secret} in base64`);
  }
  assert.ok(!output.includes(Buffer.from(`test-api-key:${API_SECRET}`).toString('base64')), 'output contains the Authorization header');
  assert.doesNotMatch(output, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
}

for (const format of ['json', 'text']) {
  test(`refused credentials (${format} logs): the secret appears nowhere`, async () => {
    const wrong = 'wrong-secret-Zx81';
    const result = await runCli(['load', '--range', range, '--log-format', format], {
      ...loaderEnv(fixtures.api.url, urlWithPassword()),
      AMPLITUDE_SECRET_KEY: wrong,
    });
    assert.equal(result.code, 2);
    assertNoSecrets(result, [wrong, DB_PASSWORD]);
  });

  test(`an unreachable Export API (${format} logs): retries and failures carry no secret`, async () => {
    const result = await runCli(['load', '--range', range, '--retries', '1', '--retry-delay-ms', '10', '--log-format', format], {
      ...loaderEnv('http://127.0.0.1:1/api/2/export', urlWithPassword()),
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /ECONNREFUSED/);
    assertNoSecrets(result, [API_SECRET, DB_PASSWORD]);
  });
}

test('a database failing mid-run: its errors carry neither password nor secret', async () => {
  const run = startCli(['load', '--range', range, '--schema', 'secrets_db', '--retries', '1', '--retry-delay-ms', '10'], loaderEnv(fixtures.api.url, urlWithPassword()));
  await run.waitFor(/"event":"planned"/);
  await sleep(300);
  const outage = proxy.outage(3000);
  const result = await run.result;
  await outage;
  assert.notEqual(result.code, 0, 'the outage outlasted the retries');
  assert.match(result.stderr, /"event":"(retry|hour_failed)".*"code":"DATABASE"/);
  assertNoSecrets(result, [API_SECRET, DB_PASSWORD]);
});

test('a database that refuses at start: no password in the message', async () => {
  const url = new URL(urlWithPassword());
  url.port = '1';
  const result = await runCli(['load', '--range', range], loaderEnv(fixtures.api.url, url.toString()));
  assert.equal(result.code, 2);
  assertNoSecrets(result, [API_SECRET, DB_PASSWORD]);
});

test('DATABASE_URL in libpq keyword=value form loads like the URL; a wrong one names DATABASE_URL, exits 2 and never echoes the password', async () => {
  const target = new URL(urlWithPassword());
  const settings = `host=${target.hostname} port=${target.port} dbname='${fixtures.db.name}' user=${target.username || 'postgres'} password='${DB_PASSWORD}'`;
  const loaded = await runCli(['load', '--range', range, '--schema', 'secrets_keywords'], { ...loaderEnv(fixtures.api.url, settings) });
  assert.equal(loaded.code, 0, loaded.stdout + loaded.stderr);
  assertNoSecrets(loaded, [API_SECRET, DB_PASSWORD]);
  const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM secrets_keywords.events`);
  assert.equal(rows[0].n, 8000);

  for (const [wrong, reason] of [
    [`${settings} sslcert=/tmp/x`, /DATABASE_URL \(or --database-url\): the libpq setting "sslcert" is not supported/],
    [`host=127.0.0.1 port=notaport password=${DB_PASSWORD}`, /DATABASE_URL \(or --database-url\): the libpq setting "port" must be a port number/],
    [`postgres://u:${DB_PASSWORD}@[::1/db`, /DATABASE_URL \(or --database-url\) is not a valid postgres:\/\/ URL/],
    [`${DB_PASSWORD}`, /DATABASE_URL \(or --database-url\) must be a postgres:\/\/user:password@host:port\/database URL or libpq settings/],
  ] as const) {
    const result = await runCli(['status'], { DATABASE_URL: wrong });
    assert.equal(result.code, 2, `${wrong}: ${result.stderr}`);
    assert.match(result.stderr, reason);
    assertNoSecrets(result, [DB_PASSWORD]);
  }
});
