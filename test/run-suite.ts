/**
 * `npm test`: runs every test file against the PostgreSQL at TEST_DATABASE_URL (default: the local
 * server on 127.0.0.1:5432). When none answers, as on a machine with nothing but Node, it starts the
 * embedded PostgreSQL for the run. AMPLITUDE_PG_TEST_EMBEDDED=1 forces the embedded one.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isReachable, useEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded-postgres.js';

const TEST_DIRECTORY = fileURLToPath(new URL('.', import.meta.url));
// The checkout's own folder for the embedded server the tests may start: never another checkout's.
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function testFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    // citus/ needs a cluster: npm run test:citus runs it.
    if (entry.isDirectory()) return entry.name === 'citus' ? [] : testFiles(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const env = { ...process.env };
let server: EmbeddedServer | undefined;
const url = env.TEST_DATABASE_URL ?? DEFAULT_URL;
if (env.AMPLITUDE_PG_TEST_EMBEDDED === '1' || !(await isReachable(url))) {
  process.stderr.write(`no PostgreSQL answers at ${new URL(url).host}: starting the embedded one for the tests\n`);
  try {
    server = await useEmbeddedPostgres({ home: join(CHECKOUT, '.amplitude-pg', 'test-server') });
  } catch (error) {
    process.stderr.write(`npm test: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  env.TEST_DATABASE_URL = server.url('postgres');
}

const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=180000', ...testFiles(TEST_DIRECTORY).sort()],
  { env, stdio: 'inherit' },
);
const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
await server?.stop();
process.exitCode = code;
