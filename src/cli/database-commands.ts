import { databaseConfig, readEnvironment, type LoaderFlags } from '../config.js';
import { useEmbeddedPostgres, ensureDatabase } from '../db/embedded-postgres.js';
import { createPool } from '../db/pool.js';
import { EMBEDDED_DATABASE, openDatabaseTarget, prepareDatabase } from './database-target.js';
import { EXIT_OK } from './exit-codes.js';

/** `migrate`: applies the migrations and nothing else. */
export async function runMigrate(flags: LoaderFlags): Promise<number> {
  const database = databaseConfig(flags, readEnvironment());
  const target = await openDatabaseTarget(database, (message) => process.stderr.write(`${message}\n`));
  const pool = createPool({ connectionString: target.connectionString, maxConnections: 2 });
  try {
    const applied = await prepareDatabase(pool, database.schema);
    process.stdout.write(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'the schema is up to date\n');
    return EXIT_OK;
  } finally {
    await pool.end();
    await target.close();
  }
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
