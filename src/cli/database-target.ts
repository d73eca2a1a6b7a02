import type pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { ensureDatabase, useEmbeddedPostgres, type EmbeddedServer } from '../db/embedded-postgres.js';
import { migrate } from '../db/migrate.js';
import { classifyDatabaseError, UsageError } from '../errors.js';

/** The embedded server's database for `load`, `status` and `migrate`; the demo has its own. */
export const EMBEDDED_DATABASE = 'amplitude';

export interface DatabaseTarget {
  /** Undefined: node-postgres reads the PG* variables. */
  readonly connectionString: string | undefined;
  /** Stops the embedded server if this process started it. */
  close(): Promise<void>;
}

/**
 * Where this command's data goes: DATABASE_URL or the PG* variables when set, else the project's
 * embedded PostgreSQL, started if it is not running (and said so).
 */
export async function openDatabaseTarget(database: DatabaseConfig, notice: (message: string) => void): Promise<DatabaseTarget> {
  if (!database.embedded) return { connectionString: database.connectionString, close: async () => {} };
  const server: EmbeddedServer = await useEmbeddedPostgres();
  await ensureDatabase(server, EMBEDDED_DATABASE);
  notice(
    `no DATABASE_URL or PG* variable is set: using the embedded PostgreSQL (binaries in ${server.binDirectory} and data in ` +
      `${server.dataDirectory}) at ${server.url(EMBEDDED_DATABASE)}`,
  );
  return { connectionString: server.url(EMBEDDED_DATABASE), close: () => server.stop() };
}

/** Applies migrations; a database that cannot be reached at start is a configuration problem. */
export async function prepareDatabase(pool: pg.Pool, schema: string): Promise<string[]> {
  try {
    return await migrate(pool, schema);
  } catch (error) {
    const classified = classifyDatabaseError(error, { doing: 'connecting to the database and applying migrations' });
    throw new UsageError(classified.message);
  }
}
