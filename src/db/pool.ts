import { FLAGS } from '../flags.js';
import pg from 'pg';

export interface DatabaseSettings {
  /** A libpq connection URL; when absent, node-postgres reads the PG* variables itself. */
  readonly connectionString: string | undefined;
  readonly maxConnections: number;
  readonly session?: SessionSettings;
  /** Every transaction read-only (the server refuses any write): for the commands that only read. */
  readonly readOnly?: boolean;
}

/**
 * The loader's own session settings. Sent at connection start, they override what the database or
 * the role sets (managed PostgreSQL often sets a statement_timeout that would cancel an hour's COPY).
 */
export interface SessionSettings {
  /** 0: statements run as long as they need (an hour's COPY takes as long as its data). */
  readonly statementTimeoutSeconds: number;
  /** Every wait for a lock: the dedup lock, a new partition behind an analyst's lock, the migration lock. */
  readonly lockWaitSeconds: number;
  /** A loader that stops mid-transaction (a hung process) lets its locks go after this. */
  readonly idleInTransactionSeconds: number;
}

/** The flags' defaults (flags.ts), for connections made without a configuration (tests, the bench). */
export const DEFAULT_SESSION: SessionSettings = {
  statementTimeoutSeconds: FLAGS['statement-timeout'].integer.default,
  lockWaitSeconds: FLAGS['lock-wait'].integer.default,
  idleInTransactionSeconds: FLAGS['idle-in-transaction-timeout'].integer.default,
};

/** The startup options every loader connection sends: UTC, UTF-8 and the loader's own timeouts. */
export function sessionOptions(session: SessionSettings): string {
  return (
    `-c TimeZone=UTC -c client_encoding=UTF8 -c statement_timeout=${session.statementTimeoutSeconds * 1000} ` +
    `-c lock_timeout=${session.lockWaitSeconds * 1000} -c idle_in_transaction_session_timeout=${session.idleInTransactionSeconds * 1000}`
  );
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
    options: `${sessionOptions(settings.session ?? DEFAULT_SESSION)} -c jit=off${settings.readOnly ? ' -c default_transaction_read_only=on' : ''}`,
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
