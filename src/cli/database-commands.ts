import { databaseConfig, readEnvironment, type LoaderFlags } from '../config.js';
import { columnTypes, dataDictionary, dbtSources } from '../db/catalog-documents.js';
import { dirname } from 'node:path';
import { ensureDatabase, stopEmbeddedPostgres, useEmbeddedPostgres } from '../db/embedded-postgres.js';
import { UsageError } from '../errors.js';
import { EMBEDDED_DATABASE, withWarehouse } from './database-target.js';
import { EXIT_OK } from './exit-codes.js';

/** `migrate`: applies the migrations and nothing else. */
export async function runMigrate(flags: LoaderFlags): Promise<number> {
  const database = databaseConfig(flags, readEnvironment());
  return withWarehouse(database, (message) => process.stderr.write(`${message}\n`), 2, async (_pool, _url, applied) => {
    process.stdout.write(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'the schema is up to date\n');
    return EXIT_OK;
  });
}

/** `catalog`: the warehouse's dbt sources file (default) or data dictionary, for this schema, on stdout. */
export async function runCatalog(flags: LoaderFlags & { format?: string | undefined }): Promise<number> {
  const format = flags.format ?? 'dbt';
  if (format !== 'dbt' && format !== 'markdown') throw new UsageError(`--format must be "dbt" or "markdown", not "${format}"`);
  const database = databaseConfig(flags, readEnvironment());
  return withWarehouse(database, (message) => process.stderr.write(`${message}\n`), 2, async (pool) => {
    process.stdout.write(format === 'dbt' ? dbtSources(database.schema) : dataDictionary(database.schema, await columnTypes(pool, database.schema)));
    return EXIT_OK;
  }, 'read');
}

/**
 * `db`: keeps the checkout's embedded PostgreSQL running for a SQL client until Ctrl-C, SIGTERM or
 * the terminal closing (SIGHUP); `db --stop` stops it whichever process started it.
 */
export async function runDatabase(flags: { stop?: boolean | undefined }): Promise<number> {
  if (flags.stop) {
    const stopped = await stopEmbeddedPostgres();
    process.stdout.write(stopped === undefined ? 'the embedded PostgreSQL of this checkout is not running\n' : `stopped the embedded PostgreSQL (${stopped})\n`);
    return EXIT_OK;
  }
  // Serves what is there: a checkout with nothing loaded yet gets nothing made for it.
  const server = await useEmbeddedPostgres({ create: false });
  try {
    await ensureDatabase(server, EMBEDDED_DATABASE, false);
  } catch (error) {
    await server.stop();
    throw error;
  }
  process.stdout.write(
    `The embedded PostgreSQL is running (binaries in ${server.binDirectory} and data in ${server.dataDirectory}).\n` +
      `  psql "${server.url(EMBEDDED_DATABASE)}"\n` +
      `  (the password is this server's own, kept in ${dirname(server.dataDirectory)}/password)\n` +
      `  npm run load, status and demo use it while neither DATABASE_URL nor PG* is set.\n`,
  );
  // Another process started it (another npm run db): it stays up with that process; nothing to wait for here.
  if (!server.startedHere) {
    process.stdout.write('It was already running, started by another process: npm run db -- --stop stops it.\n');
    return EXIT_OK;
  }
  // Listening before saying so: whoever reads the line may signal at once.
  const stopAsked = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, resolve);
  });
  process.stdout.write('Press Ctrl-C to stop it (or, from anywhere in this checkout, npm run db -- --stop).\n');
  await stopAsked;
  await server.stop();
  return EXIT_OK;
}
