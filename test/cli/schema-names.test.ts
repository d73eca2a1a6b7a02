import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
before(async () => (db = await createTestDatabase()));
after(async () => db.drop());

const schemas = async () =>
  (await db.pool.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`)).rows.map(
    (r) => r.nspname,
  );

test('a --schema with upper case is refused by every command before anything is created', async () => {
  const before = await schemas();
  const env = { DATABASE_URL: db.url, AMPLITUDE_API_KEY: 'k', AMPLITUDE_SECRET_KEY: 's', AMPLITUDE_EXPORT_URL: 'http://127.0.0.1:9/api/2/export' };
  for (const command of [['load', '--range', '20240301T05'], ['migrate'], ['status'], ['catalog']]) {
    const result = await runCli([...command, '--schema', 'Amplitude_H2'], env);
    assert.equal(result.code, 2, `${command[0]}: ${result.stderr}`);
    assert.match(result.stderr, /--schema must be 1 to 56 lower-case letters, digits or '_', not starting with a digit, not "Amplitude_H2"/);
  }
  assert.deepEqual(await schemas(), before, 'no schema was created, in any spelling');
});

test('a --schema named like a loader schema is refused, and a neighbour warehouse keeps its grants', async () => {
  const refused = await runCli(['migrate', '--schema', 'amplitude_loader'], { DATABASE_URL: db.url });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--schema must not end in "_loader": that is where a warehouse keeps its loader's state \("amplitude_loader" is the one of "amplitude"\)/);

  // A warehouse made by an earlier loader under such a name: its analysts' schema is "wh_loader".
  await db.pool.query(`CREATE SCHEMA wh_loader; CREATE TABLE wh_loader.events (uuid uuid)`);
  const before = await schemas();
  const neighbour = await runCli(['migrate', '--schema', 'wh'], { DATABASE_URL: db.url });
  assert.equal(neighbour.code, 2);
  assert.match(neighbour.stderr, /schema wh_loader, where the warehouse wh would keep its loader's state, is the analysts' schema of another warehouse \(it holds events\): choose another --schema; nothing was changed/);
  assert.deepEqual(await schemas(), before, 'nothing was created');
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'wh_loader'::regnamespace`);
  assert.equal(rows[0].n, 1, 'the neighbour is untouched');
});
