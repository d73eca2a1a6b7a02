import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, UsageError } from './errors.js';
import { FLAGS, integerFlag, type Flags } from './flags.js';
import { LOADER_SCHEMA_SUFFIX } from './db/loader-schema.js';
import type { SessionSettings } from './db/pool.js';
import { hourCount, HourSyntaxError, parseHourRange, type HourRange, type UploadHour } from './hour.js';

export const EXPORT_URLS = {
  us: 'https://amplitude.com/api/2/export',
  eu: 'https://analytics.eu.amplitude.com/api/2/export',
} as const;

export type Region = keyof typeof EXPORT_URLS;

/** Data is exportable about two hours after Amplitude received it (the Export API's documentation). */
export const AVAILABILITY_LAG_HOURS = 2;

/** Flags as the CLI parsed them (declared once, in flags.ts); every one overrides its environment variable. */
export type LoaderFlags = Flags;

export interface DatabaseConfig {
  /** DATABASE_URL; when undefined node-postgres reads PGHOST, PGUSER, PGDATABASE... itself. */
  readonly connectionString: string | undefined;
  readonly schema: string;
  /** The Amplitude project whose hours a load writes (--project, AMPLITUDE_PROJECT; default `default`). */
  readonly project: string;
  /** The schema may hold tables the loader did not create (`--shared-schema`). */
  readonly sharedSchema: boolean;
  /** Neither DATABASE_URL nor any PG* variable is set: use the project's embedded PostgreSQL. */
  readonly embedded: boolean;
  readonly session: SessionSettings;
}

/** Which hours a run covers: a fixed range, or from a start (or where the last run stopped) to now. */
export type HourSelection =
  | { readonly kind: 'range'; readonly range: HourRange }
  | { readonly kind: 'since'; readonly since: UploadHour | undefined; readonly follow: boolean }
  /** Archives on disk; with a range, only its hours. */
  | { readonly kind: 'files'; readonly paths: readonly string[]; readonly range: HourRange | undefined };

export interface LoaderConfig {
  readonly hours: HourSelection;
  /** Undefined: text with a progress bar on a terminal, JSON lines elsewhere. */
  readonly logFormat: 'text' | 'json' | undefined;
  /** Seconds between JSON progress events for the hours in flight. */
  readonly progressSeconds: number;
  readonly apiKey: string;
  readonly secretKey: string;
  readonly exportUrl: string;
  readonly database: DatabaseConfig;
  readonly concurrency: number;
  /** Worker threads for the transform; 0: it runs on the main thread. */
  readonly transformThreads: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly insertIdWindowDays: number;
  readonly reload: boolean;
  /** Print the plan and check the database and the credentials; load nothing. */
  readonly dryRun: boolean;
  readonly tempDir: string;
  /** One download, request to last byte, may take at most this long. */
  readonly downloadTimeoutSeconds: number;
  /** A body slower than this over a minute fails its attempt; 0: no minimum. */
  readonly minDownloadBytesPerSecond: number;
  /** The answer's headers must arrive this long after the request (Amplitude prepares a large hour first). */
  readonly headersTimeoutSeconds: number;
  readonly limits: Limits;
  /** Hours that ended less than this many hours ago are not requested: their data may be arriving. */
  readonly availabilityLagHours: number;
}

/** Bounds against broken or hostile archives; each exceeded one fails its hour only. */
export interface Limits {
  readonly maxArchiveBytes: number;
  readonly maxEntryBytes: number;
  readonly maxHourBytes: number;
  readonly maxLineBytes: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The process environment, with a `.env` file in the working directory filling in what it lacks.
 * This is the one place the loader reads process.env.
 */
export function readEnvironment(cwd = process.cwd()): Environment {
  const path = join(cwd, '.env');
  const fromFile = existsSync(path) ? parseEnv(readFileSync(path, 'utf8')) : {};
  return Object.freeze({ ...fromFile, ...process.env });
}

/**
 * The loader's flags npm kept for itself: `npm run load --range X` gives npm the flag (it sets
 * npm_config_range) and the loader only X. Empty outside npm run.
 */
export function flagsNpmTook(env: Environment): string[] {
  if (env.npm_lifecycle_event === undefined) return [];
  return Object.keys(FLAGS).filter((name) => env[`npm_config_${name.replaceAll('-', '_')}`] !== undefined);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}


// libpq's keyword=value settings this loader can pass on: where, who, and how securely.
const LIBPQ_KEYWORDS = new Set(['host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'sslmode', 'application_name', 'connect_timeout']);
const LIBPQ_SETTING = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)/y;

/**
 * DATABASE_URL as a `postgres://` URL, from either form libpq (and psql) accepts: a URL, or
 * `host=… port=… dbname=… user=… password=…` settings. Errors name the variable and never echo it:
 * it may hold a password.
 */
function connectionUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const what = 'DATABASE_URL (or --database-url)';
  if (/^postgres(ql)?:\/\//i.test(text)) {
    try {
      new URL(text);
    } catch {
      throw new ConfigError(`${what} is not a valid postgres:// URL (a password with '@', '/', ':' or '#' must be percent-encoded)`);
    }
    return text;
  }
  if (!text.includes('=')) throw new ConfigError(`${what} must be a postgres://user:password@host:port/database URL or libpq settings (host=… dbname=…)`);
  const settings = new Map<string, string>();
  LIBPQ_SETTING.lastIndex = 0;
  while (LIBPQ_SETTING.lastIndex < text.trimEnd().length) {
    const at = LIBPQ_SETTING.lastIndex;
    const match = LIBPQ_SETTING.exec(text);
    if (match === null || LIBPQ_SETTING.lastIndex === at) throw new ConfigError(`${what}: the libpq settings cannot be read after character ${at}`);
    const keyword = (match[1] as string).toLowerCase();
    if (!LIBPQ_KEYWORDS.has(keyword)) throw new ConfigError(`${what}: the libpq setting "${keyword}" is not supported (${[...LIBPQ_KEYWORDS].join(', ')})`);
    const raw = match[2] as string;
    settings.set(keyword, raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  const url = new URL('postgres://localhost');
  const host = settings.get('host') ?? settings.get('hostaddr');
  // A socket folder travels percent-encoded in the host, as node-postgres reads it.
  if (host !== undefined) url.host = host.startsWith('/') ? encodeURIComponent(host) : host;
  const port = settings.get('port');
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port)) throw new ConfigError(`${what}: the libpq setting "port" must be a port number`);
    url.port = port;
  }
  if (settings.has('user')) url.username = encodeURIComponent(settings.get('user') as string);
  if (settings.has('password')) url.password = encodeURIComponent(settings.get('password') as string);
  if (settings.has('dbname')) url.pathname = `/${encodeURIComponent(settings.get('dbname') as string)}`;
  for (const keyword of ['sslmode', 'application_name', 'connect_timeout']) {
    if (settings.has(keyword)) url.searchParams.set(keyword, settings.get(keyword) as string);
  }
  return url.toString();
}

/** The database settings alone, for commands that need no Amplitude credentials. */
export function databaseConfig(flags: LoaderFlags, env: Environment): DatabaseConfig {
  const schema = flags.schema ?? 'amplitude';
  // Lower case only: PostgreSQL folds unquoted names to lower case, so any other spelling names a
  // different schema in a psql session or a BI tool than in the loader. The loader's schema is named
  // after it with 7 more characters, within PostgreSQL's 63.
  if (!/^[a-z_][a-z0-9_]{0,55}$/.test(schema)) {
    throw new UsageError(
      `--schema must be 1 to 56 lower-case letters, digits or '_', not starting with a digit, not "${schema}"`,
    );
  }
  if (schema.endsWith(LOADER_SCHEMA_SUFFIX)) {
    throw new UsageError(
      `--schema must not end in "${LOADER_SCHEMA_SUFFIX}": that is where a warehouse keeps its loader's state ("${schema}" is the one of "${schema.slice(0, -LOADER_SCHEMA_SUFFIX.length)}")`,
    );
  }
  const project = flags.project ?? nonEmpty(env.AMPLITUDE_PROJECT) ?? 'default';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(project)) {
    throw new UsageError(`--project must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit, not "${project}"`);
  }
  const connectionString = connectionUrl(nonEmpty(flags['database-url']) ?? nonEmpty(env.DATABASE_URL));
  const libpq = Object.keys(env).some((name) => name.startsWith('PG') && nonEmpty(env[name]) !== undefined);
  const session: SessionSettings = Object.freeze({
    statementTimeoutSeconds: integerFlag(flags, 'statement-timeout'),
    lockWaitSeconds: integerFlag(flags, 'lock-wait'),
    idleInTransactionSeconds: integerFlag(flags, 'idle-in-transaction-timeout'),
  });
  return Object.freeze({
    connectionString,
    schema,
    project,
    sharedSchema: flags['shared-schema'] ?? false,
    embedded: connectionString === undefined && !libpq,
    session,
  });
}

export function parseRangeFlag(flag: string, text: string): HourRange {
  try {
    return parseHourRange(text);
  } catch (error) {
    if (error instanceof HourSyntaxError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

// The loader asks for one hour at a time, so a range of any length is fine (the Export API's own cap
// of 365 days is per request); this only keeps a typo like 20240301..29240301 from planning for ever.
const MAX_RANGE_YEARS = 100;

function checkedRange(text: string): HourRange {
  const range = parseRangeFlag('--range', text);
  if (hourCount(range) > MAX_RANGE_YEARS * 366 * 24) {
    throw new UsageError(`--range covers ${Math.round(hourCount(range) / 24 / 365.25)} years; at most ${MAX_RANGE_YEARS} in one run`);
  }
  return range;
}

function hourSelection(flags: LoaderFlags): HourSelection {
  const open = flags.since !== undefined || flags['since-last'] === true || flags.follow === true;
  const files = flags['from-file'] ?? [];
  if (files.length > 0) {
    if (open) throw new UsageError('--from-file cannot be combined with --since, --since-last or --follow');
    return { kind: 'files', paths: files, range: flags.range === undefined ? undefined : checkedRange(flags.range) };
  }
  if (flags.range !== undefined) {
    if (open) throw new UsageError('--range cannot be combined with --since, --since-last or --follow');
    return { kind: 'range', range: checkedRange(flags.range) };
  }
  if (!open) throw new UsageError('say which hours: --range START..END, --since START, --since-last, --follow or --from-file PATH');
  if (flags.since !== undefined && flags.since.includes('..')) throw new UsageError('--since takes one hour or day, not a range');
  const since = flags.since === undefined ? undefined : parseRangeFlag('--since', flags.since).first;
  return { kind: 'since', since, follow: flags.follow === true };
}

/**
 * The transform's threads: as given, or, on a machine with more than two cores, one per hour in flight
 * leaving a core to the main thread; two cores have none to spare (Node and Postgres share them).
 */
export function transformThreads(text: string | undefined, concurrency: number, cores: number): number {
  if (text === undefined) return cores > 2 ? Math.min(concurrency, cores - 1) : 0;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 32) throw new UsageError(`--transform-threads must be a whole number from 0 to 32, not "${text}"`);
  return value;
}

/** Validates flags and environment into the frozen configuration of one load run. */
export function loaderConfig(flags: LoaderFlags, env: Environment): LoaderConfig {
  const hours = hourSelection(flags);
  const logFormat = flags['log-format'];
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') {
    throw new UsageError(`--log-format must be "text" or "json", not "${logFormat}"`);
  }

  const apiKey = nonEmpty(flags['api-key']) ?? nonEmpty(env.AMPLITUDE_API_KEY);
  const secretKey = nonEmpty(flags['secret-key']) ?? nonEmpty(env.AMPLITUDE_SECRET_KEY);
  const missing = [apiKey ? undefined : 'AMPLITUDE_API_KEY', secretKey ? undefined : 'AMPLITUDE_SECRET_KEY'].filter(Boolean);
  // Archives on disk need no credentials.
  if (missing.length > 0 && hours.kind !== 'files') throw new ConfigError(`${missing.join(' and ')} must be set (in the environment, in .env, or by flag)`);

  const region = (nonEmpty(flags.region) ?? nonEmpty(env.AMPLITUDE_REGION) ?? 'us').toLowerCase();
  if (region !== 'us' && region !== 'eu') throw new UsageError(`AMPLITUDE_REGION must be "us" or "eu", not "${region}"`);
  const exportUrl = nonEmpty(flags['export-url']) ?? nonEmpty(env.AMPLITUDE_EXPORT_URL) ?? EXPORT_URLS[region];
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(exportUrl);
  } catch {
    throw new UsageError('AMPLITUDE_EXPORT_URL is not a valid URL');
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new UsageError('AMPLITUDE_EXPORT_URL must be an http or https URL');
  }
  if (parsedUrl.username || parsedUrl.password) {
    throw new UsageError('AMPLITUDE_EXPORT_URL must not carry credentials; use AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY');
  }

  const windowText = flags['insert-id-window'];
  const insertIdWindowDays = windowText === undefined ? 7 : Number(windowText);
  if (!Number.isFinite(insertIdWindowDays) || insertIdWindowDays < 0 || insertIdWindowDays > 3650) {
    throw new UsageError(`--insert-id-window must be a number of days from 0 to 3650, not "${windowText}"`);
  }

  return Object.freeze({
    hours,
    logFormat,
    progressSeconds: integerFlag(flags, 'progress-every'),
    apiKey: apiKey ?? '',
    secretKey: secretKey ?? '',
    exportUrl,
    database: databaseConfig(flags, env),
    concurrency: integerFlag(flags, 'concurrency'),
    transformThreads: transformThreads(flags['transform-threads'], integerFlag(flags, 'concurrency'), availableParallelism()),
    retries: integerFlag(flags, 'retries'),
    retryDelayMs: integerFlag(flags, 'retry-delay-ms'),
    insertIdWindowDays,
    reload: flags.reload ?? false,
    dryRun: flags['dry-run'] ?? false,
    tempDir: nonEmpty(flags['temp-dir']) ?? tmpdir(),
    downloadTimeoutSeconds: integerFlag(flags, 'download-timeout'),
    minDownloadBytesPerSecond: integerFlag(flags, 'min-download-rate'),
    headersTimeoutSeconds: integerFlag(flags, 'headers-timeout'),
    limits: Object.freeze({
      maxArchiveBytes: integerFlag(flags, 'max-archive-bytes'),
      maxEntryBytes: integerFlag(flags, 'max-entry-bytes'),
      maxHourBytes: integerFlag(flags, 'max-hour-bytes'),
      maxLineBytes: integerFlag(flags, 'max-line-bytes'),
    }),
    availabilityLagHours: AVAILABILITY_LAG_HOURS,
  });
}
