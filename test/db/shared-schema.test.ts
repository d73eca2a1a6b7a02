import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
before(async () => (db = await createTestDatabase()));
after(async () => db.drop());

const readable = async (table: string) =>
  (await db.pool.query(`SELECT has_table_privilege('amplitude_reader', $1, 'SELECT') AS ok`, [table])).rows[0].ok as boolean;

test('a schema that holds tables the loader did not create is refused, unless --shared-schema', async (t) => {
  const { rows } = await db.pool.query(`SELECT 1 FROM pg_roles WHERE rolname = 'amplitude_reader'`);
  if (rows.length === 0) return t.skip('amplitude_reader does not exist on this server');
  await db.pool.query('CREATE TABLE public.customers (id int, email text)');
  const refused = await runCli(['migrate', '--schema', 'public'], { DATABASE_URL: db.url });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /schema public already holds 1 table\(s\) the loader did not create \(customers\): choose a schema of its own with --schema, or pass --shared-schema/);
  const { rows: none } = await db.pool.query(`SELECT to_regclass('public.events') IS NULL AS absent`);
  assert.equal(none[0].absent, true, 'nothing was created');

  const shared = await runCli(['migrate', '--schema', 'public', '--shared-schema'], { DATABASE_URL: db.url });
  assert.equal(shared.code, 0, shared.stderr);
  assert.equal(await readable('public.events'), true);
  assert.equal(await readable('public.daily_active_users'), true);
  assert.equal(await readable('public.customers'), false, 'the reader reads only the loader\'s objects');
  assert.equal(await readable('public.users'), true);
  assert.equal(await readable('public_loader.event_keys_1'), false, 'nor its dedup state');
  assert.equal(await readable('public_loader.upload_hours'), false, 'nor its bookkeeping');
  await db.pool.query('CREATE TABLE public.invoices (id int)');
  assert.equal(await readable('public.invoices'), false, 'nor tables created later');
  const again = await runCli(['migrate', '--schema', 'public'], { DATABASE_URL: db.url });
  assert.equal(again.code, 2, 'still refused without the flag');
});
