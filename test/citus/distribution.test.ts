import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { runCli, runLoad } from '../helpers/cli.js';
import { databaseUrl } from '../helpers/database.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { assertNoHalfLoadedHours, assertRollups } from '../helpers/invariants.js';
import { servePeopleWorkload, serveWorkload, snapshotSchema } from '../helpers/workload.js';

// Runs only under npm run test:citus, against a coordinator and two workers.
const NODES = (process.env.TEST_CITUS_NODES ?? '').split(',');

let range = '';
let peopleRange = '';
const fixtures = useLoaderFixtures(async ({ api }) => {
  range = await serveWorkload(api, { day: '20240905', hours: 4, eventsPerHour: 400 });
  peopleRange = await servePeopleWorkload(api, { day: '20240906', hours: 4 });
});

test('events and duplicates are distributed by uuid and co-located; the loader\'s state and the rollups stay on the coordinator', async () => {
  const { rows } = await fixtures.db.pool.query(
    `SELECT logicalrelid::text AS relation, column_to_column_name(logicalrelid, partkey) AS column, colocationid
       FROM pg_dist_partition WHERE NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = logicalrelid) ORDER BY 1`,
  );
  assert.deepEqual(rows.map((r) => [r.relation, r.column]), [['amplitude.events', 'uuid'], ['amplitude_loader.duplicates', 'uuid']]);
  assert.equal(rows[0].colocationid, rows[1].colocationid, 'co-located');
});

test('a load spreads the rows over both workers, with dedup, rollups and the reader role as on one server', async () => {
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const { rows: placed } = await fixtures.db.pool.query(
    `SELECT count(DISTINCT nodeport)::int AS workers FROM citus_shards WHERE table_name::text LIKE 'amplitude.events_p%' AND shard_size > 8192`,
  );
  assert.equal(placed[0].workers, 2);
  await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');
  await assertRollups(fixtures.db.pool, 'amplitude');
  const { rows: total } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM amplitude.events`);
  // On Citus the workers are queried as the user who logged in: an analyst's own login, granted the
  // reader role (amplitude_reader itself cannot log in), as the README says to connect.
  const analyst = `analyst_${process.pid}`;
  await fixtures.db.pool.query(`CREATE ROLE ${analyst} LOGIN IN ROLE amplitude_reader`);
  const url = new URL(fixtures.db.url);
  url.username = analyst;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM amplitude.events`);
    assert.deepEqual(rows, total, 'the reader reads every shard of every partition');
    const { rows: users } = await client.query(`SELECT count(*)::int AS n FROM amplitude.users`);
    assert.ok(users[0].n > 0);
    await assert.rejects(client.query('SELECT count(*) FROM amplitude_loader.upload_hours'), { code: '42501' });
    await assert.rejects(client.query('DELETE FROM amplitude.events'), { code: '42501' });
  } finally {
    await client.end();
    await fixtures.db.pool.query(`DROP ROLE ${analyst}`);
  }
});

test('a warehouse loaded on one server moves onto the cluster in place: npm run migrate distributes it, and loads and reloads go on exactly', async () => {
  // The reference: the same hours loaded on the cluster from the start.
  const reference = await snapshotSchema(fixtures.db.pool, 'amplitude');
  // A database on the coordinator alone, without Citus, loaded as a single server would be.
  const name = `${fixtures.db.name}_single`;
  const admin = new pg.Client({ connectionString: NODES[0] });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
  await admin.end();
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const single = await runLoad(fixtures.api.url, url, ['--range', range]);
    assert.equal(single.code, 0, single.stderr);
    const { rows: before } = await pool.query(`SELECT to_regclass('pg_dist_partition') IS NULL AS plain`);
    assert.equal(before[0].plain, true);

    // What a user does: the extension on every node, the workers added, then migrate.
    for (const node of NODES.slice(1)) {
      const worker = new pg.Client({ connectionString: node });
      await worker.connect();
      await worker.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
      await worker.end();
      const workerDb = new URL(node);
      workerDb.pathname = `/${name}`;
      const client = new pg.Client({ connectionString: workerDb.toString() });
      await client.connect();
      await client.query('CREATE EXTENSION citus');
      await client.end();
    }
    await pool.query('CREATE EXTENSION citus');
    const coordinator = new URL(NODES[0] as string);
    await pool.query('SELECT citus_set_coordinator_host($1, $2)', [coordinator.hostname, Number(coordinator.port)]);
    for (const node of NODES.slice(1)) await pool.query('SELECT citus_add_node($1, $2)', [new URL(node).hostname, Number(new URL(node).port)]);
    const migrated = await runCli(['migrate'], { DATABASE_URL: url });
    assert.equal(migrated.code, 0, migrated.stderr);
    const { rows: distributed } = await pool.query(`SELECT count(*)::int AS n FROM pg_dist_partition WHERE logicalrelid::text IN ('amplitude.events', 'amplitude_loader.duplicates')`);
    assert.equal(distributed[0].n, 2);
    assert.deepEqual(await snapshotSchema(pool, 'amplitude'), reference, 'the same rows, keys and rollups after the move');

    const reload = await runLoad(fixtures.api.url, url, ['--range', range, '--reload']);
    assert.equal(reload.code, 0, reload.stderr);
    assert.deepEqual(await snapshotSchema(pool, 'amplitude'), reference, 'a reload on the cluster leaves the same table');
    await assertNoHalfLoadedHours(pool, 'amplitude');
    await assertRollups(pool, 'amplitude');
  } finally {
    await pool.end();
    for (const node of NODES) {
      const client = new pg.Client({ connectionString: node });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await client.end();
    }
  }
});

test('migration 0018 recomputes a users rollup that lost the changes an earlier loader named by the workers\' transactions', async () => {
  const load = await runLoad(fixtures.api.url, fixtures.db.url, ['--schema', 'repaired', '--range', peopleRange]);
  assert.equal(load.code, 0, load.stdout + load.stderr);
  await assertRollups(fixtures.db.pool, 'repaired');
  // What an earlier loader left on a cluster: the default computed on the workers, users whose changes
  // the fold dropped (no hour had their transaction), and a change no hour names.
  await fixtures.db.pool.query(`
    ALTER TABLE repaired_loader.users_pending ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
    ALTER TABLE repaired_loader.sessions_pending ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
    ALTER TABLE repaired_loader.device_users_pending ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
    DELETE FROM repaired_loader.kysely_migration WHERE name = '0018_pending_changes_name_their_hour';
    DELETE FROM repaired_loader.users_folded WHERE amplitude_id % 2 = 0;
    INSERT INTO repaired_loader.users_pending (project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties, complete)
    SELECT project, amplitude_id, first_seen, last_seen, last_event_uuid, user_id, user_properties, false FROM repaired_loader.users_folded LIMIT 1;`);
  await assert.rejects(assertRollups(fixtures.db.pool, 'repaired'), /users differs/);

  const migrated = await runCli(['migrate', '--schema', 'repaired'], { DATABASE_URL: fixtures.db.url });
  assert.equal(migrated.code, 0, migrated.stderr);
  await assertRollups(fixtures.db.pool, 'repaired');
  const { rows } = await fixtures.db.pool.query(
    `SELECT table_name AS name, column_default AS "default" FROM information_schema.columns
      WHERE table_schema = 'repaired_loader' AND column_name = 'xid' AND table_name LIKE '%_pending' ORDER BY 1`,
  );
  assert.deepEqual(rows, ['device_users_pending', 'sessions_pending', 'users_pending'].map((name) => ({ name, default: null })));
});
