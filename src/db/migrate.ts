import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationProvider } from 'kysely';
import type pg from 'pg';
import { ConfigError } from '../errors.js';
import { commentScript, currentComments } from './catalog.js';
import { distributeWarehouse } from './citus.js';
import { loaderSchemaOf } from './loader-schema.js';
import { quoteIdentifier } from './pool.js';

const SQL_DIRECTORY = fileURLToPath(new URL('../../../sql/', import.meta.url));
const SCHEMA_PLACEHOLDER = /:AMPLITUDE_SCHEMA\b/g;
const SCHEMA_NAME_PLACEHOLDER = /:'AMPLITUDE_SCHEMA_NAME'/g;
const LOADER_SCHEMA_PLACEHOLDER = /:LOADER_SCHEMA\b/g;
const LOADER_SCHEMA_NAME_PLACEHOLDER = /:'LOADER_SCHEMA_NAME'/g;
// Any fixed number will do; it only has to be the same for every loader process.
const MIGRATION_LOCK_KEY = 0x616d706c; // "ampl"

/**
 * Serves `sql/NNNN_name.sql` files as kysely migrations, with the target schemas filled in:
 * `:AMPLITUDE_SCHEMA` and `:LOADER_SCHEMA` as identifiers, `:'AMPLITUDE_SCHEMA_NAME'` and
 * `:'LOADER_SCHEMA_NAME'` as string literals.
 */
class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly schema: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const name of await migrationNames()) {
      const text = (await readFile(`${SQL_DIRECTORY}${name}.sql`, 'utf8'))
        .replace(SCHEMA_NAME_PLACEHOLDER, `'${this.schema.replaceAll("'", "''")}'`)
        .replace(LOADER_SCHEMA_NAME_PLACEHOLDER, `'${loaderSchemaOf(this.schema).replaceAll("'", "''")}'`)
        .replace(SCHEMA_PLACEHOLDER, quoteIdentifier(this.schema))
        .replace(LOADER_SCHEMA_PLACEHOLDER, quoteIdentifier(loaderSchemaOf(this.schema)));
      migrations[name] = {
        // No parameters: node-postgres sends it as one simple query, so a file may hold many statements.
        up: async (db) => {
          await sql.raw(text).execute(db);
        },
      };
    }
    return migrations;
  }
}

// The loader's own relations, past ones included (event_copies); the partitions of events apart.
const OWN_RELATIONS = new Set([
  'events', 'duplicates', 'rejects', 'upload_hours', 'hour_claims', 'event_keys', 'recent_merges', 'dedup_lock', 'event_copies',
  'kysely_migration', 'kysely_migration_lock', 'sessions', 'daily_active_users', 'event_counts', 'hour_merge_seq', 'recent_merges_id_seq',
  'coverage', 'daily_users', 'daily_active_users_by_platform', 'users', 'daily_metrics', 'merged_ids', 'daily_active_people',
]);

/** Tables, views and sequences in `schema` that the loader did not create: neither its own nor a partition of its events. */
export async function foreignRelations(client: pg.ClientBase, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid AND i.inhparent = to_regclass($2))
      ORDER BY 1`,
    [schema, `${quoteIdentifier(schema)}.events`],
  );
  return rows.map((r) => r.name).filter((name) => !OWN_RELATIONS.has(name));
}

/**
 * A warehouse keeps its loader's state in `<schema>_loader`; when that name is already the analysts'
 * schema of another warehouse (one made before such names were refused), migrating would take over
 * its tables and grants. Refused before anything is created.
 */
async function refuseNeighbourSchema(client: pg.ClientBase, schema: string): Promise<void> {
  const loader = loaderSchemaOf(schema);
  const { rows } = await client.query<{ events: string | null }>(`SELECT to_regclass($1)::text AS events`, [`${quoteIdentifier(loader)}.events`]);
  if (rows[0]?.events) {
    throw new ConfigError(
      `schema ${loader}, where the warehouse ${schema} would keep its loader's state, is the analysts' schema of another ` +
        `warehouse (it holds events): choose another --schema; nothing was changed`,
    );
  }
}

/**
 * Before 0008 the migration records lived in the analysts' schema; they move to the loader's before
 * the migrator reads them, so it sees what is applied.
 */
async function moveMigrationRecords(client: pg.ClientBase, schema: string): Promise<void> {
  const loader = quoteIdentifier(loaderSchemaOf(schema));
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${loader}`);
  for (const table of ['kysely_migration', 'kysely_migration_lock']) {
    const { rows } = await client.query<{ here: string | null; there: string | null }>(
      'SELECT to_regclass($1)::text AS here, to_regclass($2)::text AS there',
      [`${quoteIdentifier(schema)}.${table}`, `${loader}.${table}`],
    );
    if (rows[0]?.here && !rows[0].there) await client.query(`ALTER TABLE ${quoteIdentifier(schema)}.${table} SET SCHEMA ${loader}`);
  }
}

/** The migrations this loader knows, by name, oldest first. */
async function migrationNames(): Promise<string[]> {
  return (await readdir(SQL_DIRECTORY)).filter((name) => /^\d{4}_.+\.sql$/.test(name)).sort().map((name) => name.replace(/\.sql$/, ''));
}

/**
 * For the commands that only read (status, catalog): the warehouse in `schema` exists and has every
 * migration this loader knows; otherwise a ConfigError saying what to run. Reads only.
 */
export async function checkWarehouse(client: pg.ClientBase, schema: string): Promise<void> {
  const loader = loaderSchemaOf(schema);
  const { rows } = await client.query<{ records: string | null }>(`SELECT to_regclass($1)::text AS records`, [`${quoteIdentifier(loader)}.kysely_migration`]);
  if (!rows[0]?.records) {
    const { rows: legacy } = await client.query<{ records: string | null }>(`SELECT to_regclass($1)::text AS records`, [`${quoteIdentifier(schema)}.kysely_migration`]);
    if (legacy[0]?.records) {
      throw new ConfigError(`the warehouse in schema ${schema} has an earlier layout: run npm run migrate -- --schema ${schema} (a load does too) first`);
    }
    throw new ConfigError(
      `schema ${schema} holds no warehouse (${loader} has no migrations): check --schema, or create it with npm run migrate -- --schema ${schema} (a load does too); nothing was created`,
    );
  }
  const { rows: applied } = await client.query<{ name: string }>(`SELECT name FROM ${quoteIdentifier(loader)}.kysely_migration`);
  const done = new Set(applied.map((r) => r.name));
  const missing = (await migrationNames()).filter((name) => !done.has(name));
  if (missing.length > 0) {
    throw new ConfigError(
      `the warehouse in schema ${schema} lacks ${missing.length} migration(s) this version applies (${missing.join(', ')}): run npm run migrate -- --schema ${schema} (a load does too) first`,
    );
  }
}

/**
 * Applies every migration not yet applied to `schema`; a no-op when all are. Two loaders starting at
 * once on an empty database both succeed: a session-level advisory lock lets one migrate at a time.
 * A schema holding relations the loader did not create is refused unless `shared`.
 */
export async function migrate(pool: pg.Pool, schema: string, shared = false): Promise<string[]> {
  const lockClient = await pool.connect();
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    try {
      await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      const { rows } = await lockClient.query<{ wait: string }>(`SELECT current_setting('lock_timeout') AS wait`);
      throw new ConfigError(
        `waited ${rows[0]?.wait} (--lock-wait) for the migration lock, which another session holds: another loader applying migrations, or a session holding advisory lock ${MIGRATION_LOCK_KEY}`,
        error,
      );
    }
    await refuseNeighbourSchema(lockClient, schema);
    const foreign = shared ? [] : await foreignRelations(lockClient, schema);
    if (foreign.length > 0) {
      throw new ConfigError(
        `schema ${schema} already holds ${foreign.length} table(s) the loader did not create (${foreign.slice(0, 5).join(', ')}` +
          `${foreign.length > 5 ? ', ...' : ''}): choose a schema of its own with --schema, or pass --shared-schema to load beside them`,
      );
    }
    await moveMigrationRecords(lockClient, schema);
    const migrator = new Migrator({
      db,
      provider: new SqlFileMigrationProvider(schema),
      migrationTableSchema: loaderSchemaOf(schema),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error;
    // Comments come from one source (catalog.ts): those that differ from it are set again.
    const { rows: projects } = await lockClient.query<{ id: number }>(`SELECT project_id AS id FROM ${quoteIdentifier(loaderSchemaOf(schema))}.projects`);
    const comments = commentScript(schema, await currentComments(lockClient, schema), projects.map((p) => p.id));
    if (comments !== '') await lockClient.query(comments);
    await distributeWarehouse(lockClient, schema);
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    lockClient.release();
  }
}
