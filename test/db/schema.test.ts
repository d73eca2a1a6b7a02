import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EVENT_COLUMNS } from '../../src/transform/event-columns.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
before(async () => (db = await createTestDatabase()));
after(async () => db.drop());

test('events has the transform\'s columns, in order, with their types, then where each row came from and when it was loaded', async () => {
  const { rows } = await db.pool.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns
      WHERE table_schema = 'amplitude' AND table_name = 'events' ORDER BY ordinal_position`,
  );
  const expected = [
    ...EVENT_COLUMNS.map((c) => [c.name, c.type === 'timestamptz' ? 'timestamp with time zone' : c.type]),
    ['extra', 'jsonb'],
    ['upload_hour', 'timestamp with time zone'],
    ['archive_entry', 'integer'],
    ['archive_line', 'integer'],
    ['project', 'text'],
    ['loaded_at', 'timestamp with time zone'],
  ];
  assert.deepEqual(rows.map((r) => [r.column_name, r.data_type]), expected);
});

test('events is partitioned by range on event_time', async () => {
  const { rows } = await db.pool.query(
    `SELECT pg_get_partkeydef('amplitude.events'::regclass) AS key`,
  );
  assert.equal(rows[0].key, 'RANGE (event_time)');
});

test('npm run migrate is idempotent and honours --schema', async () => {
  const env = { DATABASE_URL: db.url };
  const first = await runCli(['migrate', '--schema', 'warehouse'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /applied 0001_events/);
  const again = await runCli(['migrate', '--schema', 'warehouse'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /up to date/);
  const { rows } = await db.pool.query(`SELECT to_regclass('warehouse.events') IS NOT NULL AS present`);
  assert.equal(rows[0].present, true);
});

test('two migrations starting together on an empty schema both succeed', async () => {
  const env = { DATABASE_URL: db.url };
  const results = await Promise.all([runCli(['migrate', '--schema', 'raced'], env), runCli(['migrate', '--schema', 'raced'], env)]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
});
