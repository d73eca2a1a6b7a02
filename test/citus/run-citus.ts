/**
 * `npm run test:citus`: starts a local Citus cluster (a coordinator and two workers), runs the tests
 * whose guarantees distribution could break against it, and stops it. Where Citus is not installed it
 * says so and passes (../shared/citus/build.sh installs it here; users get it from Citus's packages).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { citusBinaries, startCitusCluster } from '../../src/db/local-citus-cluster.js';

const TESTS = fileURLToPath(new URL('..', import.meta.url));
// Order-free dedup in every order, reloads and two loaders at once; --reload exactness; two projects
// at once; kill -9 then rerun; several loaders sharing hours; the rollups of sessions and people on
// users with many events an hour, most of which no other hour contests; and the distribution itself.
const FILES = [
  'citus/distribution.test.js',
  'pipeline/dedup-orders.test.js',
  'pipeline/dedup.test.js',
  'pipeline/projects.test.js',
  'pipeline/crash-resume.test.js',
  'pipeline/cooperating-loaders.test.js',
  'pipeline/sessions.test.js',
  'pipeline/people.test.js',
];

const bin = citusBinaries();
if (!bin) {
  process.stdout.write('test:citus skipped: no PostgreSQL on this machine has the citus extension installed (../shared/citus/build.sh builds it)\n');
  process.exit(0);
}
process.stderr.write(`starting a Citus coordinator and two workers from ${bin}...\n`);
const cluster = await startCitusCluster(bin);
try {
  const env = { ...process.env, TEST_DATABASE_URL: cluster.nodes[0], TEST_CITUS_NODES: cluster.nodes.join(',') };
  const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...FILES.map((f) => TESTS + f)], { env, stdio: 'inherit' });
  process.exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
} finally {
  await cluster.stop();
}
