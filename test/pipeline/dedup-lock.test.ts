import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

const fixtures = useLoaderFixtures(async ({ api }) => {
  api.archive('20240901T05', await hourArchive('20240901T05', [ndjson([makeEvent({ event_time: '2024-09-01 05:10:00' })])]));
});

async function holdDedupLock(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: fixtures.db.url });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT 1 FROM amplitude_loader.projects WHERE project = 'default' FOR UPDATE`);
  return client;
}

test('an hour waits for the dedup lock at most --lock-wait, then fails saying what it waited for, and loads once it is free; other projects do not wait', async () => {
  const holder = await holdDedupLock();
  try {
    const web = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240901T05', '--project', 'web', '--lock-wait', '1', '--retries', '0']);
    assert.equal(web.code, 0, 'each project has its own lock: ' + web.stdout + web.stderr);
    const started = Date.now();
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240901T05', '--lock-wait', '1', '--retries', '1']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /failed 20240901T05: hour 20240901T05: waited 1 s \(--lock-wait\) for the dedup lock of project default \(its row in amplitude_loader\.projects\), which another loader holds/);
    assert.ok(Date.now() - started < 20_000, 'the waits are bounded');
    const { rows } = await fixtures.db.pool.query(`SELECT status, attempts FROM amplitude_loader.upload_hours WHERE project = 'default'`);
    assert.deepEqual(rows, [{ status: 'failed', attempts: 2 }], 'the wait was retried once, then the hour failed');
  } finally {
    await holder.end();
  }
  const again = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240901T05']);
  assert.equal(again.code, 0, again.stderr);
  const { rows } = await fixtures.db.pool.query(`SELECT project, count(*)::int AS n FROM amplitude.events GROUP BY 1 ORDER BY 1`);
  assert.deepEqual(rows, [{ project: 'default', n: 1 }, { project: 'web', n: 1 }]);
});

test('a reader cannot take the dedup lock, so no analyst can hold loaders up', async (t) => {
  const { rows } = await fixtures.db.pool.query(`SELECT 1 FROM pg_roles WHERE rolname = 'amplitude_reader'`);
  if (rows.length === 0) return t.skip('amplitude_reader does not exist on this server');
  const client = await fixtures.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL ROLE amplitude_reader');
    await assert.rejects(client.query(`SELECT 1 FROM amplitude_loader.projects FOR UPDATE`), { code: '42501' });
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
});
