import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runCli, runLoad, loaderEnv } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { createPool } from '../../src/db/pool.js';

const fixtures = useLoaderFixtures(async ({ api }) => {
  for (const [hour, time] of [['20240901T05', '2024-09-01 05:10:00'], ['20241001T05', '2024-10-01 05:10:00'], ['20241101T05', '2024-11-01 05:10:00']]) {
    api.archive(hour as string, await hourArchive(hour as string, [ndjson([makeEvent({ event_time: time }), makeEvent({ event_time: time })])]));
  }
});

/** A session of its own, immune to the settings the tests put on the database. */
async function session(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: fixtures.db.url, options: '-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function hourStatuses(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query(`SELECT to_char(upload_hour AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24') || ' ' || status AS s FROM amplitude_loader.upload_hours ORDER BY 1`);
  return rows.map((r) => r.s);
}

test("the database's statement, lock and idle timeouts (as managed PostgreSQL sets them) do not cancel the loader", async () => {
  const admin = await session();
  try {
    for (const setting of ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout']) {
      await admin.query(`ALTER DATABASE "${fixtures.db.name}" SET ${setting} = '1ms'`);
    }
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240901T05', '--retries', '0']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(await hourStatuses(admin), ['20240901T05 loaded']);
  } finally {
    await admin.query(`ALTER DATABASE "${fixtures.db.name}" RESET ALL`);
    await admin.end();
  }
});

test('the loader sets its own timeouts on every connection, from its flags', async () => {
  const pool = createPool({
    connectionString: fixtures.db.url,
    maxConnections: 1,
    session: { statementTimeoutSeconds: 7, lockWaitSeconds: 3, idleInTransactionSeconds: 120 },
  });
  try {
    const { rows } = await pool.query(
      `SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
              current_setting('idle_in_transaction_session_timeout') AS idle`,
    );
    assert.deepEqual(rows[0], { statement: '7s', lock: '3s', idle: '2min' });
  } finally {
    await pool.end();
  }
  const refused = await runCli(['load', '--range', '20240901T05', '--lock-wait', '0'], loaderEnv(fixtures.api.url, fixtures.db.url));
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--lock-wait must be a whole number from 1 to 86400, not "0"/);
});

test("a new partition waits for an analyst's lock at most --lock-wait, then the hour fails naming it, and loads once it is free", async () => {
  const analyst = await session();
  try {
    await analyst.query('BEGIN');
    await analyst.query('LOCK TABLE amplitude.events IN SHARE MODE');
    const started = Date.now();
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T05', '--lock-wait', '1', '--retries', '1']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /failed 20241001T05: creating the partition of amplitude\.events for 2024-10 failed \(SQLSTATE 55P03\): .*lock timeout; another session held a lock it needed for longer than --lock-wait/,
    );
    assert.ok(Date.now() - started < 20_000, 'the waits are bounded');
  } finally {
    await analyst.query('ROLLBACK');
  }
  try {
    const again = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T05']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok((await hourStatuses(analyst)).includes('20241001T05 loaded'));
  } finally {
    await analyst.end();
  }
});

test('the migration lock is waited for at most --lock-wait, then the command stops saying who may hold it', async () => {
  const other = await session();
  try {
    await other.query('SELECT pg_advisory_lock($1)', [0x616d706c]);
    const result = await runCli(['migrate', '--lock-wait', '1'], { DATABASE_URL: fixtures.db.url });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /waited 1s \(--lock-wait\) for the migration lock, which another session holds: another loader applying migrations/);
  } finally {
    await other.end();
  }
});
