import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationProvider } from 'kysely';
import type pg from 'pg';
import { quoteIdentifier } from './pool.js';

const SQL_DIRECTORY = fileURLToPath(new URL('../../../sql/', import.meta.url));
const SCHEMA_PLACEHOLDER = /:AMPLITUDE_SCHEMA\b/g;
const SCHEMA_NAME_PLACEHOLDER = /:'AMPLITUDE_SCHEMA_NAME'/g;
// Any fixed number will do; it only has to be the same for every loader process.
const MIGRATION_LOCK_KEY = 0x616d706c; // "ampl"

/**
 * Serves `sql/NNNN_name.sql` files as kysely migrations, with the target schema filled in:
 * `:AMPLITUDE_SCHEMA` as an identifier, `:'AMPLITUDE_SCHEMA_NAME'` as a string literal.
 */
class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly schema: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(SQL_DIRECTORY)).filter((name) => /^\d{4}_.+\.sql$/.test(name)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const text = (await readFile(SQL_DIRECTORY + file, 'utf8'))
        .replace(SCHEMA_NAME_PLACEHOLDER, `'${this.schema.replaceAll("'", "''")}'`)
        .replace(SCHEMA_PLACEHOLDER, quoteIdentifier(this.schema));
      migrations[file.replace(/\.sql$/, '')] = {
        // No parameters: node-postgres sends it as one simple query, so a file may hold many statements.
        up: async (db) => {
          await sql.raw(text).execute(db);
        },
      };
    }
    return migrations;
  }
}

/**
 * Applies every migration not yet applied to `schema`; a no-op when all are. Two loaders starting at
 * once on an empty database both succeed: a session-level advisory lock lets one migrate at a time.
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<string[]> {
  const lockClient = await pool.connect();
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const migrator = new Migrator({
      db,
      provider: new SqlFileMigrationProvider(schema),
      migrationTableSchema: schema,
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error;
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    lockClient.release();
  }
}
