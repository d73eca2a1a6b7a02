import pg from 'pg';

export interface DatabaseSettings {
  /** A libpq connection URL; when absent, node-postgres reads the PG* variables itself. */
  readonly connectionString: string | undefined;
  readonly maxConnections: number;
}

/**
 * Every session runs in UTC so that months of event_time, and the timestamps the loader formats,
 * never depend on the server's TimeZone setting. JIT is off: the loader's queries are short, and
 * compiling them cost up to 100 ms each (BENCHMARKS.md).
 */
export function createPool(settings: DatabaseSettings): pg.Pool {
  const pool = new pg.Pool({
    ...(settings.connectionString ? { connectionString: settings.connectionString } : {}),
    max: settings.maxConnections,
    application_name: 'amplitude-pg',
    // A peer that vanished without closing the connection is noticed, and a pool that cannot connect
    // says so instead of waiting for ever.
    keepAlive: true,
    connectionTimeoutMillis: 30_000,
    options: '-c TimeZone=UTC -c client_encoding=UTF8 -c jit=off',
  });
  // A connection that drops makes its client emit 'error' whether it is idle, checked out between
  // queries, or being discarded; without a listener Node would end the process. The query in flight,
  // if any, fails with the error itself, and the pool replaces the client.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * Where a connection goes, as psql names it: host (or socket folder), port and database, with the
 * PG* variables applied as node-postgres applies them. Never the password.
 */
export function describeServer(connectionString: string | undefined): string {
  const client = new pg.Client(connectionString ? { connectionString } : {});
  const host = client.host.startsWith('/') ? `socket "${client.host}/.s.PGSQL.${client.port}"` : `server at "${client.host}", port ${client.port}`;
  return `${host}, database "${client.database}"`;
}

/** Quotes an identifier for interpolation into SQL text. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
