import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { commentScript } from '../../src/db/catalog.js';
import { migrate } from '../../src/db/migrate.js';
import { createClusterDatabase } from '../../src/db/local-citus-cluster.js';
import { createPool } from '../../src/db/pool.js';

/** The server the tests use; any database on it works for administration. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const SQL_DIRECTORY = fileURLToPath(new URL('../../../sql/', import.meta.url));
// Templates carry this checkout's key: another checkout's tests, on the same server, build and drop
// their own and never this one's.
const CHECKOUT_KEY = createHash('sha256').update(fileURLToPath(new URL('../../../', import.meta.url))).digest('hex').slice(0, 8);
const TEMPLATE_PREFIX = `amplitude_pg_template_${CHECKOUT_KEY}_`;
const TEMPLATE_LOCK_KEY = 0x616d7074; // "ampt"

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The migrations' fingerprint: a changed sql/ folder or catalog gets a new template. */
function templateName(): string {
  const hash = createHash('sha256').update(commentScript('amplitude'));
  for (const file of readdirSync(SQL_DIRECTORY).filter((f) => f.endsWith('.sql')).sort()) hash.update(file).update(readFileSync(SQL_DIRECTORY + file));
  return TEMPLATE_PREFIX + hash.digest('hex').slice(0, 16);
}

async function withAdmin<T>(action: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await action(client);
  } finally {
    await client.end();
  }
}

/** Builds the migrated template database once per sql/ version, whichever test process comes first. */
async function ensureTemplate(): Promise<string> {
  const name = templateName();
  await withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK_KEY]);
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount) return;
      // This checkout's templates of earlier migrations: nobody else clones from them.
      const { rows: stale } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [TEMPLATE_PREFIX]);
      for (const { datname } of stale) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      const building = `${name}_building`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${building}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
      const pool = createPool({ connectionString: databaseUrl(building), maxConnections: 2 });
      try {
        await migrate(pool, 'amplitude');
      } finally {
        await pool.end();
      }
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK_KEY]);
    }
  });
  return name;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

/**
 * Under `npm run test:citus`: the cluster's nodes (admin URLs, coordinator first). A test database is
 * then made on every node, with the citus extension, the workers added from the coordinator, and
 * migrated there, which distributes events and duplicates.
 */
const CITUS_NODES = process.env.TEST_CITUS_NODES?.split(',');

/** A fresh, migrated database of this test's own, cloned from the template (on Citus, made on every node). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `amplitude_pg_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  if (CITUS_NODES) {
    const pool = createPool({ connectionString: await createClusterDatabase(CITUS_NODES, name), maxConnections: 2 });
    try {
      await migrate(pool, 'amplitude');
    } finally {
      await pool.end();
    }
  } else {
    await cloneTemplate(name);
  }
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 4, options: '-c TimeZone=UTC' });
  // An idle client whose backend goes away (a fault test, the drop below) must not crash the file.
  pool.on('error', () => {});
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      for (const node of CITUS_NODES ?? [ADMIN_URL]) {
        const admin = new pg.Client({ connectionString: node });
        await admin.connect();
        try {
          await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await admin.end();
        }
      }
    },
  };
}

async function cloneTemplate(name: string): Promise<void> {
  const template = await ensureTemplate();
  await withAdmin(async (admin) => {
    // Cloning fails while another session is connected to the template; those are short-lived.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
}
