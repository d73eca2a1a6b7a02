import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { AVAILABILITY_LAG_HOURS, databaseConfig, loaderConfig, parseRangeFlag, readEnvironment, type LoaderConfig, type LoaderFlags } from '../config.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { classifyDatabaseError, LoaderError, UsageError } from '../errors.js';
import { ExportClient, removeStaleTempFiles } from '../extract/export-client.js';
import { ExportApiSource } from '../extract/hour-source.js';
import { LocalArchives } from '../extract/local-archives.js';
import { PartitionManager } from '../load/partitions.js';
import { ClaimSession } from '../state/hour-claims.js';
import { hourRecords } from '../state/hour-records.js';
import { renderStatusGrid, statusReport } from './status-grid.js';
import { hourToDate, hoursOf, type HourRange, type UploadHour } from '../hour.js';
import { follow, dueRange } from '../pipeline/follow.js';
import type { HourContext, HourOutcome } from '../pipeline/load-hour.js';
import { emptySummary, loadRange, type RunSummary } from '../pipeline/load-range.js';
import { describeSummary } from './report.js';
import { createRunLog } from './run-log.js';
import { HELP } from './help.js';

const EXIT_OK = 0;
const EXIT_HOURS_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_SIGNAL: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
// Renewed every third of this; a loader that stalls longer loses its hours to the others.
const CLAIM_LEASE_SECONDS = 120;

const OPTIONS = {
  range: { type: 'string' },
  'from-file': { type: 'string', multiple: true },
  since: { type: 'string' },
  'since-last': { type: 'boolean' },
  follow: { type: 'boolean' },
  'log-format': { type: 'string' },
  concurrency: { type: 'string' },
  retries: { type: 'string' },
  'retry-delay-ms': { type: 'string' },
  schema: { type: 'string' },
  reload: { type: 'boolean' },
  'insert-id-window': { type: 'string' },
  region: { type: 'string' },
  'export-url': { type: 'string' },
  'api-key': { type: 'string' },
  'secret-key': { type: 'string' },
  'database-url': { type: 'string' },
  'temp-dir': { type: 'string' },
  'max-archive-bytes': { type: 'string' },
  'max-entry-bytes': { type: 'string' },
  'max-hour-bytes': { type: 'string' },
  'max-line-bytes': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function parseFlags(argv: string[]): { command: string; flags: LoaderFlags; help: boolean } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    const [command = 'load', ...rest] = positionals;
    // `--from-file a.zip b.zip`: paths after the first come as positionals.
    if (rest.length > 0 && values['from-file'] === undefined) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const flags = rest.length > 0 ? { ...values, 'from-file': [...(values['from-file'] ?? []), ...rest] } : values;
    return { command, flags, help: values.help ?? false };
  } catch (error) {
    if (error instanceof LoaderError) throw error;
    throw new UsageError((error as Error).message);
  }
}

/** Applies migrations; a database that cannot be reached at start is a configuration problem. */
async function prepareDatabase(pool: pg.Pool, schema: string): Promise<string[]> {
  try {
    return await migrate(pool, schema);
  } catch (error) {
    const classified = classifyDatabaseError(error, { doing: 'connecting to the database and applying migrations' });
    throw new UsageError(classified.message);
  }
}

async function runMigrate(flags: LoaderFlags): Promise<number> {
  const database = databaseConfig(flags, readEnvironment());
  const pool = createPool({ connectionString: database.connectionString, maxConnections: 2 });
  try {
    const applied = await prepareDatabase(pool, database.schema);
    process.stdout.write(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'the schema is up to date\n');
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}

/** The hours a `--since`/`--since-last` run covers, decided from the state table. */
async function sinceRange(context: HourContext, config: LoaderConfig, since: UploadHour | undefined): Promise<HourRange | undefined> {
  const range = await dueRange(context, { since, concurrency: config.concurrency, availabilityLagHours: config.availabilityLagHours }, new Date());
  if (range === 'no start') throw new UsageError('nothing is loaded yet: the first run needs a start, e.g. --since 20240301T00');
  return range;
}

/** `status`: which hours of a range are loaded, empty, failed or missing. */
async function runStatus(flags: LoaderFlags & { json?: boolean | undefined }): Promise<number> {
  if (flags.range === undefined) throw new UsageError('status needs --range START..END');
  const range = parseRangeFlag('--range', flags.range);
  const database = databaseConfig(flags, readEnvironment());
  const pool = createPool({ connectionString: database.connectionString, maxConnections: 2 });
  try {
    await prepareDatabase(pool, database.schema);
    const records = await hourRecords(pool, database.schema, hourToDate(range.first).toISOString(), hourToDate(range.last).toISOString());
    const report = statusReport(range, records, new Date(), AVAILABILITY_LAG_HOURS);
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderStatusGrid(report)}\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}

async function runLoad(flags: LoaderFlags): Promise<number> {
  const config = loaderConfig(flags, readEnvironment());
  const runLog = createRunLog(config.logFormat, process.stderr);
  const pool = createPool({ connectionString: config.database.connectionString, maxConnections: config.concurrency + 2 });
  const exportClient = new ExportClient({
    exportUrl: config.exportUrl,
    apiKey: config.apiKey,
    secretKey: config.secretKey,
    tempDir: config.tempDir,
    maxArchiveBytes: config.limits.maxArchiveBytes,
  });
  const interrupt = new AbortController();
  let signalName: string | undefined;
  const onSignal = (name: string) => {
    if (signalName !== undefined) process.exit(EXIT_SIGNAL[name] ?? 1);
    signalName = name;
    runLog.notice(`${name}: stopping; hours in flight finish or roll back (send it again to exit at once)`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const claims = new ClaimSession({ connectionString: config.database.connectionString, schema: config.database.schema, leaseSeconds: CLAIM_LEASE_SECONDS });
  try {
    await mkdir(config.tempDir, { recursive: true });
    const stale = await removeStaleTempFiles(config.tempDir);
    if (stale > 0) runLog.notice(`removed ${stale} archive(s) a stopped loader left in ${config.tempDir}`);
    await prepareDatabase(pool, config.database.schema);
    claims.start();
    const context: HourContext = {
      pool,
      source: new ExportApiSource(exportClient),
      partitions: new PartitionManager(pool, config.database.schema),
      schema: config.database.schema,
      claimOwnerId: claims.ownerId,
      insertIdWindowDays: config.insertIdWindowDays,
      retries: config.retries,
      retryDelayMs: config.retryDelayMs,
      limits: config.limits,
      onRetry: (hour, attempt, delayMs, error) => runLog.retry(hour, attempt, delayMs, error),
    };
    const observer = { onPlanned: (hours: number) => runLog.planned(hours), onOutcome: (outcome: HourOutcome) => runLog.hour(outcome) };
    const rangeOptions = { concurrency: config.concurrency, reload: config.reload, availabilityLagHours: config.availabilityLagHours };
    let summary: RunSummary;
    const hours = config.hours;
    if (hours.kind === 'files') {
      const archives = await LocalArchives.scan(hours.paths);
      for (const name of archives.unrecognised) runLog.notice(`skipped ${name}: its name carries no upload hour (<project>_<date>_<hour>#<n>.json.gz)`);
      const found = archives.hours().filter((h) => hours.range === undefined || (h >= hours.range.first && h <= hours.range.last));
      summary = await loadRange(
        { ...rangeOptions, availabilityLagHours: undefined, hours: found, now: new Date() },
        { ...context, source: archives },
        claims,
        interrupt.signal,
        observer,
      );
    } else if (hours.kind === 'since' && hours.follow) {
      const options = { since: hours.since, concurrency: config.concurrency, availabilityLagHours: config.availabilityLagHours };
      // Refuse a first run without a start before settling into the loop.
      await sinceRange(context, config, hours.since);
      summary = await follow(context, claims, options, interrupt.signal, { ...observer, onPause: (message) => runLog.notice(message) });
    } else {
      const range = hours.kind === 'range' ? hours.range : await sinceRange(context, config, hours.since);
      summary = range
        ? await loadRange({ ...rangeOptions, hours: hoursOf(range), now: new Date() }, context, claims, interrupt.signal, observer)
        : emptySummary();
    }
    runLog.summary(summary);
    runLog.close();
    process.stdout.write(`${describeSummary(summary)}\n`);
    if (signalName !== undefined) return EXIT_SIGNAL[signalName] ?? 1;
    if (summary.authError) return EXIT_USAGE;
    return summary.hoursFailed > 0 ? EXIT_HOURS_FAILED : EXIT_OK;
  } finally {
    // The signal handlers stay: a second signal during this cleanup still exits at once.
    runLog.close();
    await claims.close();
    await exportClient.close();
    await pool.end();
  }
}

/** Runs the CLI and returns its exit code; every error a user can cause ends as a message here. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const { command, flags, help } = parseFlags(argv);
    if (help) {
      process.stdout.write(HELP);
      return EXIT_OK;
    }
    if (command === 'migrate') return await runMigrate(flags);
    if (command === 'status') return await runStatus(flags);
    if (command === 'load') return await runLoad(flags);
    throw new UsageError(`unknown command "${command}" (expected load, migrate or status)`);
  } catch (error) {
    if (error instanceof LoaderError && (error.code === 'USAGE' || error.code === 'CONFIG')) {
      log(`amplitude-pg: ${error.message}`);
      log('Run with --help for usage.');
      return EXIT_USAGE;
    }
    log(`amplitude-pg: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_HOURS_FAILED;
  }
}
