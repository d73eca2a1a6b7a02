import type pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { ensureDatabase, useEmbeddedPostgres, type EmbeddedServer } from '../db/embedded-postgres.js';
import { checkWarehouse, migrate } from '../db/migrate.js';
import { createPool, describeServer } from '../db/pool.js';
import { classifyDatabaseError, ConfigError, LoaderError } from '../errors.js';

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
async function openDatabaseTarget(database: DatabaseConfig, notice: (message: string) => void, access: WarehouseAccess): Promise<DatabaseTarget> {
  if (!database.embedded) return { connectionString: database.connectionString, close: async () => {} };
  const server: EmbeddedServer = await useEmbeddedPostgres({ create: access === 'change' });
  try {
    await ensureDatabase(server, EMBEDDED_DATABASE, access === 'change');
  } catch (error) {
    await server.stop();
    throw error;
  }
  notice(
    `no DATABASE_URL or PG* variable is set: using the embedded PostgreSQL (binaries in ${server.binDirectory} and data in ` +
      `${server.dataDirectory}) at ${server.displayUrl(EMBEDDED_DATABASE)}`,
  );
  return { connectionString: server.url(EMBEDDED_DATABASE), close: () => server.stop() };
}

/**
 * What a command may do to the warehouse: `change` (load, migrate) brings its schema up to date first
 * and may create it; `read` (status, catalog) finds it as it is, on read-only connections, and creates
 * nothing, not even the embedded server's data.
 */
export type WarehouseAccess = 'change' | 'read';

/**
 * Opens the command's database (the embedded one when nothing else is set), brings its schema up to
 * date or, to read, checks it is, runs `action` with a pool of `maxConnections`, and closes
 * everything whatever happens.
 */
export async function withWarehouse<T>(
  database: DatabaseConfig,
  notice: (message: string) => void,
  maxConnections: number,
  action: (pool: pg.Pool, connectionString: string | undefined, applied: string[]) => Promise<T>,
  access: WarehouseAccess = 'change',
): Promise<T> {
  const target = await openDatabaseTarget(database, notice, access);
  const pool = createPool({ connectionString: target.connectionString, maxConnections, session: database.session, readOnly: access === 'read' });
  try {
    const applied =
      access === 'change' ? await prepareDatabase(pool, target.connectionString, database.schema, database.sharedSchema) : await findWarehouse(pool, target.connectionString, database.schema);
    return await action(pool, target.connectionString, applied);
  } finally {
    await pool.end();
    await target.close();
  }
}

/** Checks, reading only, that the warehouse is there and current; an unreachable database is a configuration problem. */
async function findWarehouse(pool: pg.Pool, connectionString: string | undefined, schema: string): Promise<string[]> {
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect();
    await checkWarehouse(client, schema);
    return [];
  } catch (error) {
    if (error instanceof LoaderError) throw error;
    const classified = classifyDatabaseError(error, { doing: `connecting to the ${describeServer(connectionString)} and reading schema ${schema}` });
    throw new ConfigError(classified.message, error);
  } finally {
    client?.release();
  }
}

/** Applies migrations; a database that cannot be reached at start is a configuration problem. */
async function prepareDatabase(pool: pg.Pool, connectionString: string | undefined, schema: string, shared: boolean): Promise<string[]> {
  try {
    return await migrate(pool, schema, shared);
  } catch (error) {
    if (error instanceof LoaderError) throw error;
    const classified = classifyDatabaseError(error, { doing: `connecting to the ${describeServer(connectionString)} and applying migrations` });
    throw new ConfigError(classified.message, error);
  }
}

/**
 * For `load --dry-run`: the warehouse as it is, on read-only connections, creating nothing. `action`
 * gets a pool when a current warehouse is there, or undefined with what a load would do first.
 */
export async function peekWarehouse<T>(
  database: DatabaseConfig,
  notice: (message: string) => void,
  action: (pool: pg.Pool | undefined, state: string) => Promise<T>,
): Promise<T> {
  let target: DatabaseTarget;
  try {
    target = await openDatabaseTarget(database, notice, 'read');
  } catch (error) {
    if (!(error instanceof ConfigError) || !database.embedded) throw error;
    return action(undefined, `${error.message.replace(/; nothing was created$/, '')}: a load would start it and create the warehouse`);
  }
  const pool = createPool({ connectionString: target.connectionString, maxConnections: 2, session: database.session, readOnly: true });
  try {
    const state = `${describeServer(target.connectionString)}, schema ${database.schema}: the warehouse is there and up to date`;
    try {
      await findWarehouse(pool, target.connectionString, database.schema);
    } catch (error) {
      // Unreachable: a configuration to fix. No warehouse, or an older one: what the load would do.
      if (!(error instanceof ConfigError) || (error.cause !== undefined && !(error.cause instanceof LoaderError))) throw error;
      return await action(undefined, `${describeServer(target.connectionString)}: ${error.message.replace(/; nothing was created$/, '')}; a load would do that first`);
    }
    return await action(pool, state);
  } finally {
    await pool.end();
    await target.close();
  }
}
