import { mkdir } from 'node:fs/promises';
import { loaderConfig, readEnvironment, type LoaderConfig, type LoaderFlags } from '../config.js';
import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnreachable, UsageError, type LoaderError } from '../errors.js';
import { ExportClient, removeStaleTempFiles } from '../extract/export-client.js';
import { ExportApiSource } from '../extract/hour-source.js';
import { LocalArchives } from '../extract/local-archives.js';
import { formatHour, hourCount, hourFromDate, hoursOf, lastAvailableHour, type HourRange, type UploadHour } from '../hour.js';
import { lockTableWarning, PartitionManager } from '../load/partitions.js';
import { dueRange, follow } from '../pipeline/follow.js';
import { ProgressBoard } from '../pipeline/hour-progress.js';
import { foldAndVacuumPending } from '../pipeline/pending-upkeep.js';
import { backoffDelay, type HourContext, type HourOutcome } from '../pipeline/load-hour.js';
import { emptySummary, loadRange, planHours, type HourPlan, type RunSummary, type WarehouseContext } from '../pipeline/load-range.js';
import { ClaimSession } from '../state/hour-claims.js';
import { peekWarehouse, withWarehouse } from './database-target.js';
import { EXIT_HOURS_FAILED, EXIT_OK, EXIT_SIGNAL, exitCodeOf } from './exit-codes.js';
import { registerProject } from '../state/projects.js';
import { describeSummary } from './report.js';
import { TransformThreads, transformInProcess } from '../transform/transform-threads.js';
import { printable } from './printable.js';
import { createRunLog, describePlan, type RunLog } from './run-log.js';

// Plain http is fine to this machine only (a local proxy, a test server).
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

// Renewed every third of this; a loader that stalls longer loses its hours to the others.
const CLAIM_LEASE_SECONDS = 120;

/** The hours a `--since`/`--since-last` run covers, decided from the state table. */
async function sinceRange(context: WarehouseContext, config: LoaderConfig, since: UploadHour | undefined): Promise<HourRange | undefined> {
  const range = await dueRange(context, { since, concurrency: config.concurrency, availabilityLagHours: config.availabilityLagHours }, new Date());
  if (range === 'no start') throw new UsageError('nothing is loaded yet: the first run needs a start, e.g. --since 20240301T00');
  return range;
}

/** `load`: one range, the hours since the last run, hours as they come (`--follow`), or files. */
export async function runLoad(flags: LoaderFlags): Promise<number> {
  const config = loaderConfig(flags, readEnvironment());
  const runLog = createRunLog(config.logFormat, process.stderr, config.progressSeconds);
  if (config.dryRun) return dryRun(config, runLog);
  const open = () =>
    withWarehouse(config.database, (message) => runLog.notice(message), config.concurrency + 2, (pool, connectionString) =>
      loadWith(config, runLog, pool, connectionString),
    );
  return config.hours.kind === 'since' && config.hours.follow ? whenReachable(open, runLog, config.retryDelayMs) : open();
}

// A database down at start is waited for at most this long between tries.
const DATABASE_WAIT_MAX_MS = 60_000;

/**
 * `--follow`: a database that cannot be reached at start (starting up, restarting, the network) is
 * tried again with backoff, each attempt said; a refusal (password, database name, rights) still
 * stops the run, as it would any other. A signal while waiting ends it with the signal's code.
 */
async function whenReachable(open: () => Promise<number>, runLog: RunLog, retryDelayMs: number): Promise<number> {
  const stopped = new AbortController();
  let signalName: string | undefined;
  const onSignal = (name: string) => {
    signalName = name;
    stopped.abort();
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      if (!isDatabaseUnreachable(error)) throw error;
      const delayMs = Math.min(backoffDelay(attempt, Math.max(retryDelayMs, 1000)), DATABASE_WAIT_MAX_MS);
      runLog.notice(`the database cannot be reached yet (attempt ${attempt}): ${(error as Error).message}; trying again in ${(delayMs / 1000).toFixed(1)}s`);
      for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(name, onSignal);
      await sleep(delayMs, undefined, { signal: stopped.signal }).catch(() => {});
      for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(name, onSignal);
      if (signalName !== undefined) return EXIT_SIGNAL[signalName] ?? 1;
    }
  }
}

/**
 * `load --dry-run`: the plan, and whether the database and the credentials would do, loading nothing
 * and creating nothing. Exit 2 when the database or the credentials would stop the load.
 */
async function dryRun(config: LoaderConfig, runLog: RunLog): Promise<number> {
  const out = (line: string) => process.stdout.write(`${printable(line)}\n`);
  out('dry run: nothing is requested but one check of the credentials, nothing is loaded or created');
  const plan = await peekWarehouse(config.database, (message) => runLog.notice(message), async (pool, state) => {
    out(`database: ${state}`);
    const target = { schema: config.database.schema, project: config.database.project };
    const hours = await plannedHours(config, pool === undefined ? undefined : { pool, project: target });
    // Without a warehouse nothing is loaded yet: every available hour would load.
    return planHours(
      { hours, reload: config.reload || pool === undefined, availabilityLagHours: config.hours.kind === 'files' ? undefined : config.availabilityLagHours, now: new Date() },
      { pool: pool as pg.Pool, project: target },
    );
  });
  let code = EXIT_OK;
  if (config.hours.kind === 'files') {
    out('credentials: not needed for archives on disk');
  } else {
    const client = new ExportClient(exportClientSettings(config));
    const hour = hourFromDate(new Date());
    try {
      const answer = await client.downloadHour(hour, new AbortController().signal);
      out(`credentials: accepted by ${new URL(config.exportUrl).origin} (${answer.kind === 'empty' ? 'HTTP 404' : 'an archive'} for ${formatHour(hour)}, the current hour)`);
    } catch (error) {
      const refused = (error as LoaderError).code === 'AUTH_REFUSED';
      out(`credentials: ${refused ? 'refused' : 'not checked'}: ${(error as Error).message}`);
      code = exitCodeOf(error);
    } finally {
      await client.close();
    }
  }
  out(describePlan(plan));
  return code;
}

/** The hours a run would ask for, before any is found done: a range's, --since's, or those on disk. */
async function plannedHours(config: LoaderConfig, context: WarehouseContext | undefined): Promise<UploadHour[]> {
  const hours = config.hours;
  if (hours.kind === 'range') return hoursOf(hours.range);
  if (hours.kind === 'files') {
    const found = (await LocalArchives.scan(hours.paths)).hours();
    return found.filter((h) => hours.range === undefined || (h >= hours.range.first && h <= hours.range.last));
  }
  const last = lastAvailableHour(new Date(), config.availabilityLagHours);
  if (hours.since !== undefined) return hours.since <= last ? hoursOf({ first: hours.since, last }) : [];
  if (context === undefined) throw new UsageError('nothing is loaded yet: the first run needs a start, e.g. --since 20240301T00');
  const range = await sinceRange(context, config, undefined);
  return range === undefined ? [] : hoursOf(range);
}

function exportClientSettings(config: LoaderConfig) {
  return {
    exportUrl: config.exportUrl,
    apiKey: config.apiKey,
    secretKey: config.secretKey,
    tempDir: config.tempDir,
    maxArchiveBytes: config.limits.maxArchiveBytes,
    downloadTimeoutSeconds: config.downloadTimeoutSeconds,
    minDownloadBytesPerSecond: config.minDownloadBytesPerSecond,
    headersTimeoutSeconds: config.headersTimeoutSeconds,
  };
}

async function loadWith(config: LoaderConfig, runLog: RunLog, pool: pg.Pool, connectionString: string | undefined): Promise<number> {
  const exportClient = new ExportClient(exportClientSettings(config));
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
  // A closed terminal: stop as for SIGTERM, so an embedded server this run started is stopped too.
  process.on('SIGHUP', onSignal);
  // An exception escaping a dependency (thrown from one of its event handlers) stops the run the way a
  // signal does: hours in flight roll back, the summary is printed, the exit code says it failed.
  let internalError: unknown;
  const onInternalError = (error: unknown) => {
    if (internalError !== undefined) return;
    internalError = error;
    runLog.notice(`stopping after an internal error: ${error instanceof Error ? error.message : String(error)}`);
    interrupt.abort();
  };
  process.on('uncaughtException', onInternalError);
  process.on('unhandledRejection', onInternalError);
  const exportUrl = new URL(config.exportUrl);
  if (config.hours.kind !== 'files' && exportUrl.protocol === 'http:' && !LOOPBACK.test(exportUrl.hostname)) {
    runLog.notice(`AMPLITUDE_EXPORT_URL is http://${exportUrl.host}: the API key and secret cross the network unencrypted; use https`);
  }
  const target = { schema: config.database.schema, project: config.database.project };
  const claims = new ClaimSession({ connectionString, target, leaseSeconds: CLAIM_LEASE_SECONDS, session: config.database.session });
  const threads = config.transformThreads > 0 ? new TransformThreads(config.transformThreads) : undefined;
  try {
    await mkdir(config.tempDir, { recursive: true });
    const stale = await removeStaleTempFiles(config.tempDir);
    if (stale > 0) runLog.notice(`removed ${stale} archive(s) a stopped loader left in ${config.tempDir}`);
    claims.start();
    const locks = await lockTableWarning(pool, config.database.schema, config.concurrency);
    if (locks !== undefined) runLog.notice(locks);
    const context: HourContext = {
      pool,
      source: new ExportApiSource(exportClient),
      partitions: new PartitionManager(pool, config.database.schema),
      project: await registerProject(pool, target),
      claimOwnerId: claims.ownerId,
      insertIdWindowDays: config.insertIdWindowDays,
      lockWaitSeconds: config.database.session.lockWaitSeconds,
      retries: config.retries,
      retryDelayMs: config.retryDelayMs,
      limits: config.limits,
      onRetry: (hour, attempt, delayMs, error) => runLog.retry(hour, attempt, delayMs, error),
      notice: (message) => runLog.notice(message),
      transform: threads?.transform ?? transformInProcess,
      progress: new ProgressBoard(),
    };
    runLog.watch(context.progress as ProgressBoard);
    const observer = { onPlanned: (plan: HourPlan) => runLog.planned(plan), onOutcome: (outcome: HourOutcome) => runLog.hour(outcome) };
    const rangeOptions = { concurrency: config.concurrency, reload: config.reload, availabilityLagHours: config.availabilityLagHours };
    let summary: RunSummary;
    const hours = config.hours;
    if (hours.kind === 'files') {
      const archives = await LocalArchives.scan(hours.paths);
      for (const { name, reason } of archives.unrecognised) runLog.notice(`skipped ${name}: ${reason}`);
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
      if (range === undefined || summary.hoursNotYetAvailable === hourCount(range)) {
        const lastAvailable = formatHour(lastAvailableHour(new Date(), config.availabilityLagHours));
        runLog.notice(
          `${range === undefined ? 'nothing new' : 'none of these hours'} is available yet: the last available hour is ${lastAvailable} ` +
            `(Amplitude exports an hour about ${config.availabilityLagHours} hours after it ends)`,
        );
      }
    }
    await foldAndVacuumPending(pool, context.project, (message) => runLog.notice(message), 'run');
    runLog.summary(summary);
    runLog.close();
    process.stdout.write(`${describeSummary(summary)}\n`);
    if (signalName !== undefined) return EXIT_SIGNAL[signalName] ?? 1;
    if (internalError !== undefined) return EXIT_HOURS_FAILED;
    // Refused credentials are a configuration to fix (2); an unreachable API is a failed run (1).
    if (summary.stoppedBy) return exitCodeOf(summary.stoppedBy);
    return summary.hoursFailed > 0 ? EXIT_HOURS_FAILED : EXIT_OK;
  } finally {
    // The signal handlers stay: a second signal during this cleanup still exits at once.
    runLog.close();
    await claims.close();
    await exportClient.close();
    await threads?.close();
  }
}
