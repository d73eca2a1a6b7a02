import { databaseConfig, readEnvironment, type LoaderFlags } from '../config.js';
import { columnTypes, dataDictionary, dbtSources } from '../db/catalog-documents.js';
import { useEmbeddedPostgres, ensureDatabase } from '../db/embedded-postgres.js';
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
  });
}

/** `db`: keeps the embedded PostgreSQL running for a SQL client until Ctrl-C. */
export async function runDatabase(): Promise<number> {
  const server = await useEmbeddedPostgres();
  await ensureDatabase(server, EMBEDDED_DATABASE);
  process.stdout.write(
    `The embedded PostgreSQL is running (binaries in ${server.binDirectory} and data in ${server.dataDirectory}).\n` +
      `  psql "${server.url(EMBEDDED_DATABASE)}"\n` +
      `  npm run load, status and demo use it while neither DATABASE_URL nor PG* is set.\n` +
      'Press Ctrl-C to stop it.\n',
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
  return EXIT_OK;
}
