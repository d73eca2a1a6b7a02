import { formatHour, type UploadHour } from '../hour.js';
import type { LoaderError } from '../errors.js';
import type { HourOutcome } from '../pipeline/load-hour.js';
import type { HourProgress, ProgressBoard } from '../pipeline/hour-progress.js';
import type { HourPlan, RunSummary } from '../pipeline/load-range.js';
import { printable, printableJson } from './printable.js';

export type LogFormat = 'text' | 'json';

/** What a run tells its operator while it works (on stderr; the summary also goes to stdout). */
export interface RunLog {
  /** A pass over a range begins with this plan, before its first request. */
  planned(plan: HourPlan): void;
  hour(outcome: HourOutcome): void;
  retry(hour: UploadHour, attempt: number, delayMs: number, error: LoaderError): void;
  notice(message: string): void;
  summary(summary: RunSummary): void;
  /** From now until close(), reports where the hours in flight are: on the terminal's bar, or as JSON progress events. */
  watch(board: ProgressBoard): void;
  close(): void;
}

const MB = 1e6;

/** What an hour in flight is doing, in one short phrase: its bytes, rate and ETA while it downloads, lines while it loads. */
export function describeProgress(progress: HourProgress, now = Date.now()): string {
  const hour = formatHour(progress.hour);
  if (progress.phase === 'downloading') {
    const seconds = (now - progress.startedAt) / 1000;
    const rate = seconds > 0 ? progress.bytesDownloaded / seconds : 0;
    const of = progress.bytesExpected === undefined ? '' : `/${(progress.bytesExpected / MB).toFixed(1)}`;
    const eta = progress.bytesExpected !== undefined && rate > 0 ? ` ETA ${duration((progress.bytesExpected - progress.bytesDownloaded) / rate)}` : '';
    return `${hour} downloading ${(progress.bytesDownloaded / MB).toFixed(1)}${of} MB, ${(rate / MB).toFixed(1)} MB/s${eta}`;
  }
  if (progress.phase === 'loading') {
    const seconds = (now - (progress.downloadedAt ?? progress.startedAt)) / 1000;
    const rate = seconds > 0 ? progress.ndjsonBytes / seconds : 0;
    return `${hour} loading: ${progress.counters?.eventsRead ?? 0} lines, ${(progress.ndjsonBytes / MB).toFixed(1)} MB read, ${(rate / MB).toFixed(1)} MB/s`;
  }
  return `${hour} settling duplicates and committing`;
}

function describeOutcome(outcome: HourOutcome): string {
  const hour = formatHour(outcome.hour);
  const time = `${outcome.seconds.toFixed(1)}s`;
  if (outcome.status === 'failed') return `${hour} failed after ${outcome.attempts} attempt(s), ${time}: ${outcome.error.message}`;
  if (outcome.status === 'empty') return `${hour} empty (the Export API has no data for it), ${time}`;
  if (outcome.status === 'taken over') return `${hour} taken over by another loader after this one stalled; it finishes the hour, ${time}`;
  const c = outcome.counters;
  // Short enough for a line per hour on a 120-column terminal, even for the largest hour Amplitude exports.
  const megabytes = c.bytesDownloaded / 1e6;
  return (
    `${hour}: ${c.eventsRead} events, ${c.rowsInserted} rows, ${c.duplicatesUuid} + ${c.duplicatesInsertId} dup (uuid, insert_id), ` +
    `${c.rejectedLines} rejected, ${megabytes.toFixed(megabytes < 100 ? 1 : 0)} MB, ${outcome.seconds.toFixed(outcome.seconds < 100 ? 1 : 0)}s`
  );
}

/** A notice per entry the hour passed over, so none is dropped unseen. */
function skipNotices(outcome: HourOutcome): string[] {
  if (outcome.status !== 'loaded' && outcome.status !== 'empty') return [];
  const hour = formatHour(outcome.hour);
  const notices = outcome.skipped.map((s) => `${hour}: skipped entry ${s.name}: ${s.skippedBecause}`);
  const unnamed = outcome.counters.entriesSkipped - outcome.skipped.length;
  if (unnamed > 0) notices.push(`${hour}: skipped ${unnamed} more entries that are not NDJSON`);
  return notices;
}

/** One line: what a pass will load, and what it passes over. */
export function describePlan(plan: HourPlan): string {
  const span = plan.toLoad.length > 0 ? ` (${formatHour(plan.toLoad[0] as UploadHour)}..${formatHour(plan.toLoad.at(-1) as UploadHour)})` : '';
  return (
    `plan: ${plan.toLoad.length} hour(s) to load${span}; of the ${plan.hours} asked for, ${plan.alreadyDone} already loaded or empty, ` +
    `${plan.notYetAvailable} not yet available`
  );
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Progress of the current pass, for the terminal's bar. */
class Progress {
  total = 0;
  done = 0;
  events = 0;
  started = Date.now();

  plan(hours: number): void {
    this.total = hours;
    this.done = 0;
    this.events = 0;
    this.started = Date.now();
  }

  render(width = 30): string {
    const fraction = this.total > 0 ? this.done / this.total : 1;
    const filled = Math.round(fraction * width);
    const seconds = (Date.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.events / seconds : 0;
    const eta = this.done > 0 ? (seconds / this.done) * (this.total - this.done) : Number.NaN;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} hours  ${Math.round(rate)} events/s  ETA ${duration(eta)}`;
  }
}

class TextLog implements RunLog {
  private readonly progress = new Progress();
  private barShown = false;
  private board: ProgressBoard | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly bar: boolean,
  ) {}

  private line(text: string): void {
    this.stream.write(`${this.barShown ? '\r\x1b[2K' : ''}${printable(text)}\n`);
    this.barShown = false;
    this.drawBar();
  }

  private drawBar(): void {
    if (!this.bar || this.progress.total === 0) return;
    const [first, ...others] = this.board?.inFlight() ?? [];
    const hour = first === undefined ? '' : `  ${describeProgress(first)}${others.length > 0 ? ` (+${others.length} more)` : ''}`;
    this.stream.write(`\r\x1b[2K${this.progress.render()}${hour}`);
    this.barShown = true;
  }

  watch(board: ProgressBoard): void {
    this.board = board;
    // The bar is redrawn each second while hours run; off a terminal, the lines per hour say enough.
    if (this.bar) {
      this.timer = setInterval(() => this.drawBar(), 1000);
      this.timer.unref();
    }
  }

  planned(plan: HourPlan): void {
    this.progress.plan(plan.toLoad.length);
    if (plan.hours > 0) this.line(describePlan(plan));
    else this.drawBar();
  }

  hour(outcome: HourOutcome): void {
    this.progress.done++;
    if (outcome.status === 'loaded' || outcome.status === 'empty') this.progress.events += outcome.counters.eventsRead;
    this.line(describeOutcome(outcome));
    for (const skip of skipNotices(outcome)) this.line(skip);
  }

  retry(hour: UploadHour, attempt: number, delayMs: number, error: LoaderError): void {
    this.line(`${formatHour(hour)} attempt ${attempt} failed, retrying in ${(delayMs / 1000).toFixed(1)}s: ${error.message}`);
  }

  notice(message: string): void {
    this.line(message);
  }

  summary(): void {
    // The text summary goes to stdout; nothing more here.
  }

  close(): void {
    clearInterval(this.timer);
    if (this.barShown) this.stream.write('\n');
    this.barShown = false;
  }
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** JSON lines: one object per line, `event` says which kind; numbers are plain JSON numbers. */
class JsonLog implements RunLog {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly progressSeconds: number,
  ) {}

  watch(board: ProgressBoard): void {
    this.timer = setInterval(() => {
      for (const p of board.inFlight()) {
        this.write('info', 'progress', {
          hour: formatHour(p.hour),
          phase: p.phase,
          seconds: Math.round((Date.now() - p.startedAt) / 100) / 10,
          bytes_downloaded: p.bytesDownloaded,
          bytes_expected: p.bytesExpected ?? null,
          lines_read: p.counters?.eventsRead ?? 0,
          ndjson_bytes: p.ndjsonBytes,
        });
      }
    }, this.progressSeconds * 1000);
    this.timer.unref();
  }

  private write(level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>): void {
    this.stream.write(`${printableJson({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  }

  planned(plan: HourPlan): void {
    this.write('info', 'planned', {
      hours: plan.toLoad.length,
      hours_asked: plan.hours,
      hours_already_done: plan.alreadyDone,
      hours_not_yet_available: plan.notYetAvailable,
      ...(plan.toLoad.length > 0 ? { first: formatHour(plan.toLoad[0] as UploadHour), last: formatHour(plan.toLoad.at(-1) as UploadHour) } : {}),
    });
  }

  hour(outcome: HourOutcome): void {
    const base = { hour: formatHour(outcome.hour), status: outcome.status, attempts: outcome.attempts, seconds: outcome.seconds };
    if (outcome.status === 'failed') {
      this.write('error', 'hour_failed', { ...base, code: outcome.error.code, error: outcome.error.message });
      return;
    }
    if (outcome.status === 'taken over') {
      this.write('warn', 'hour_taken_over', base);
      return;
    }
    const counters = Object.fromEntries(Object.entries(outcome.counters).map(([k, v]) => [snakeCase(k), v]));
    const stages = Object.fromEntries(Object.entries(outcome.stages).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
    this.write('info', 'hour', { ...base, ...counters, stage_seconds: stages });
    for (const skip of skipNotices(outcome)) this.notice(skip);
  }

  retry(hour: UploadHour, attempt: number, delayMs: number, error: LoaderError): void {
    this.write('warn', 'retry', { hour: formatHour(hour), attempt, delay_ms: delayMs, code: error.code, error: error.message });
  }

  notice(message: string): void {
    this.write('info', 'notice', { message });
  }

  summary(summary: RunSummary): void {
    const { failures, stoppedBy, counters, ...hours } = summary;
    const fields = Object.fromEntries(Object.entries({ ...hours, ...counters }).map(([k, v]) => [snakeCase(k), v]));
    const usage = process.resourceUsage();
    this.write(summary.hoursFailed > 0 || stoppedBy ? 'error' : 'info', 'summary', {
      ...fields,
      // What this process used, for measuring the loader apart from the database.
      cpu_user_seconds: usage.userCPUTime / 1e6,
      cpu_system_seconds: usage.systemCPUTime / 1e6,
      max_rss_bytes: usage.maxRSS * 1024,
      failures,
      ...(stoppedBy ? { stopped: stoppedBy.message } : {}),
    });
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** Text with a progress bar on a terminal; JSON lines elsewhere, or whenever asked for. */
export function createRunLog(format: LogFormat | undefined, stream: NodeJS.WriteStream, progressSeconds = 30): RunLog {
  const chosen = format ?? (stream.isTTY ? 'text' : 'json');
  return chosen === 'json' ? new JsonLog(stream, progressSeconds) : new TextLog(stream, stream.isTTY === true);
}
