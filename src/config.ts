import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, UsageError } from './errors.js';
import { hourCount, HourSyntaxError, parseHourRange, type HourRange } from './hour.js';

export const EXPORT_URLS = {
  us: 'https://amplitude.com/api/2/export',
  eu: 'https://analytics.eu.amplitude.com/api/2/export',
} as const;

export type Region = keyof typeof EXPORT_URLS;

/** At most this many days in one run, as the Export API allows in one query. */
export const MAX_RANGE_DAYS = 365;

/** Flags as the CLI parsed them; every one overrides its environment variable. */
export interface LoaderFlags {
  range?: string | undefined;
  concurrency?: string | undefined;
  retries?: string | undefined;
  'retry-delay-ms'?: string | undefined;
  schema?: string | undefined;
  reload?: boolean | undefined;
  'insert-id-window'?: string | undefined;
  region?: string | undefined;
  'export-url'?: string | undefined;
  'api-key'?: string | undefined;
  'secret-key'?: string | undefined;
  'database-url'?: string | undefined;
  'temp-dir'?: string | undefined;
}

export interface DatabaseConfig {
  /** DATABASE_URL; when undefined node-postgres reads PGHOST, PGUSER, PGDATABASE... itself. */
  readonly connectionString: string | undefined;
  readonly schema: string;
}

export interface LoaderConfig {
  readonly range: HourRange;
  readonly apiKey: string;
  readonly secretKey: string;
  readonly exportUrl: string;
  readonly database: DatabaseConfig;
  readonly concurrency: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly insertIdWindowDays: number;
  readonly reload: boolean;
  readonly tempDir: string;
  /** Hours that ended less than this many hours ago are not requested: their data may be arriving. */
  readonly availabilityLagHours: number;
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

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integerSetting(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

/** The database settings alone, for commands that need no Amplitude credentials. */
export function databaseConfig(flags: LoaderFlags, env: Environment): DatabaseConfig {
  const schema = flags.schema ?? 'amplitude';
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) {
    throw new UsageError(`--schema must be a plain identifier of at most 63 characters, not "${schema}"`);
  }
  return Object.freeze({ connectionString: nonEmpty(flags['database-url']) ?? nonEmpty(env.DATABASE_URL), schema });
}

/** Validates flags and environment into the frozen configuration of one load run. */
export function loaderConfig(flags: LoaderFlags, env: Environment): LoaderConfig {
  if (flags.range === undefined) throw new UsageError('--range is required, e.g. --range 20240301T00..20240307T23');
  let range: HourRange;
  try {
    range = parseHourRange(flags.range);
  } catch (error) {
    if (error instanceof HourSyntaxError) throw new UsageError(`--range: ${error.message}`);
    throw error;
  }
  if (hourCount(range) > MAX_RANGE_DAYS * 24) {
    throw new UsageError(`--range covers ${Math.ceil(hourCount(range) / 24)} days; at most ${MAX_RANGE_DAYS} days in one run`);
  }

  const apiKey = nonEmpty(flags['api-key']) ?? nonEmpty(env.AMPLITUDE_API_KEY);
  const secretKey = nonEmpty(flags['secret-key']) ?? nonEmpty(env.AMPLITUDE_SECRET_KEY);
  const missing = [apiKey ? undefined : 'AMPLITUDE_API_KEY', secretKey ? undefined : 'AMPLITUDE_SECRET_KEY'].filter(Boolean);
  if (missing.length > 0) throw new ConfigError(`${missing.join(' and ')} must be set (in the environment, in .env, or by flag)`);

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
    range,
    apiKey: apiKey as string,
    secretKey: secretKey as string,
    exportUrl,
    database: databaseConfig(flags, env),
    concurrency: integerSetting('--concurrency', flags.concurrency, 4, 1, 32),
    retries: integerSetting('--retries', flags.retries, 5, 0, 100),
    retryDelayMs: integerSetting('--retry-delay-ms', flags['retry-delay-ms'], 1000, 0, 600_000),
    insertIdWindowDays,
    reload: flags.reload ?? false,
    tempDir: nonEmpty(flags['temp-dir']) ?? tmpdir(),
    availabilityLagHours: 2,
  });
}
