import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A Citus cluster on this machine for `npm run test:citus` and the bench: a coordinator and two
 * workers, each an ordinary PostgreSQL instance on a 127.0.0.1 port with citus preloaded, in a
 * temporary folder removed on stop. As root, the servers run as the `postgres` account (PostgreSQL
 * refuses root). Users run Citus from its own packages or images.
 */
export interface LocalCitusCluster {
  /** Admin URLs (database `postgres`), coordinator first. */
  readonly nodes: readonly string[];
  stop(): Promise<void>;
}

/** The bin folder of an installed PostgreSQL whose library folder holds citus.so, if any. */
export function citusBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    const libdir = spawnSync(join(bin, 'pg_config'), ['--pkglibdir'], { encoding: 'utf8' }).stdout?.trim();
    if (libdir && existsSync(join(libdir, 'citus.so'))) return bin;
  }
  return undefined;
}

function account(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(binary: string, args: string[], ids: { uid: number; gid: number } | undefined, home: string): void {
  // HOME: the servers' own connections to each other read ~/.postgresql, which must be theirs.
  const result = spawnSync(binary, args, { ...ids, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', HOME: home } });
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Makes `database` on every node with the citus extension, and adds the workers from the coordinator.
 * Returns its URL on the coordinator.
 */
export async function createClusterDatabase(nodes: readonly string[], database: string): Promise<string> {
  const on = (node: string) => {
    const url = new URL(node);
    url.pathname = `/${database}`;
    return url.toString();
  };
  for (const node of nodes) {
    const admin = new pg.Client({ connectionString: node });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${database}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
    } finally {
      await admin.end();
    }
    const client = new pg.Client({ connectionString: on(node) });
    await client.connect();
    try {
      await client.query('CREATE EXTENSION citus');
    } finally {
      await client.end();
    }
  }
  const coordinator = new pg.Client({ connectionString: on(nodes[0] as string) });
  await coordinator.connect();
  try {
    const [first, ...workers] = nodes.map((node) => new URL(node));
    await coordinator.query('SELECT citus_set_coordinator_host($1, $2)', [first?.hostname, Number(first?.port)]);
    for (const worker of workers) await coordinator.query('SELECT citus_add_node($1, $2)', [worker.hostname, Number(worker.port)]);
  } finally {
    await coordinator.end();
  }
  return on(nodes[0] as string);
}

export async function startCitusCluster(bin: string): Promise<LocalCitusCluster> {
  const ids = account();
  const folder = await mkdtemp(join(tmpdir(), 'amplitude-pg-citus-'));
  if (ids) await chown(folder, ids.uid, ids.gid);
  const started: string[] = [];
  const stop = async () => {
    for (const data of started) spawnSync(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'], { ...ids, stdio: 'ignore' });
    await rm(folder, { recursive: true, force: true });
  };
  try {
    const nodes: string[] = [];
    for (const name of ['coordinator', 'worker1', 'worker2']) {
      const data = join(folder, name);
      const port = await freePort();
      run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C'], ids, folder);
      await appendFile(
        join(data, 'postgresql.conf'),
        [
          "shared_preload_libraries = 'citus'",
          "listen_addresses = '127.0.0.1'",
          "unix_socket_directories = ''",
          `port = ${port}`,
          // Test servers: losing them in a crash loses nothing.
          'fsync = off',
          'synchronous_commit = off',
          'full_page_writes = off',
          'max_connections = 300',
        ].join('\n') + '\n',
      );
      run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(folder, `${name}.log`), '-w', 'start'], ids, folder);
      started.push(data);
      nodes.push(`postgres://postgres@127.0.0.1:${port}/postgres`);
    }
    return { nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
