/**
 * One error taxonomy for the whole loader. `retryable` alone decides whether an hour is attempted
 * again, `scope` alone whether the run stops; `code` is stable for scripts and tests. Context lives in
 * fields and in the message.
 */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG'
  | 'AUTH_REFUSED'
  | 'EXPORT_TOO_LARGE'
  | 'EXPORT_HTTP'
  | 'DOWNLOAD'
  | 'ARCHIVE'
  | 'DATABASE'
  | 'LIMIT_EXCEEDED'
  | 'CLAIM_LOST'
  | 'UNREACHABLE'
  | 'ABORTED';

/**
 * What an error ends: its hour (the run goes on with the others), the pass over a range (the hours
 * left would only meet it too; a one-shot run ends, --follow tries again after a pause), or the run.
 */
export type ErrorScope = 'hour' | 'pass' | 'run';

export interface ErrorContext {
  hour?: string;
  entry?: string;
  line?: number;
}

export class LoaderError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly scope: ErrorScope;
  readonly hour: string | undefined;
  readonly entry: string | undefined;
  readonly line: number | undefined;

  /**
   * What ends a run with this error asks of the person running it: to fix the configuration (a flag,
   * a setting, the keys: exit 2; restarting cannot help), or to look at what failed (exit 1).
   */
  get fixConfiguration(): boolean {
    return this.code === 'USAGE' || this.code === 'CONFIG' || this.code === 'AUTH_REFUSED';
  }

  constructor(code: ErrorCode, message: string, options: { retryable: boolean; scope?: ErrorScope; cause?: unknown } & ErrorContext) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable;
    this.scope = options.scope ?? 'hour';
    this.hour = options.hour;
    this.entry = options.entry;
    this.line = options.line;
  }
}

/** Bad flags, a bad range, missing settings: exit 2 before any request. */
export class UsageError extends LoaderError {
  constructor(message: string) {
    super('USAGE', message, { retryable: false, scope: 'run' });
  }
}

export class ConfigError extends LoaderError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG', message, { retryable: false, scope: 'run', cause });
  }
}

/** 401/403: key, secret or region is wrong. Stops the whole run. */
export class AuthRefusedError extends LoaderError {
  constructor(hour: string, status: number) {
    super(
      'AUTH_REFUSED',
      `the Export API refused the credentials (HTTP ${status}) for hour ${hour}: check AMPLITUDE_API_KEY, ` +
        'AMPLITUDE_SECRET_KEY and AMPLITUDE_REGION (an EU project needs AMPLITUDE_REGION=eu)',
      { retryable: false, scope: 'run', hour },
    );
  }
}

/** 400: one hour is above Amplitude's 4 GB export limit; retrying cannot help. */
export class ExportTooLargeError extends LoaderError {
  constructor(hour: string) {
    super(
      'EXPORT_TOO_LARGE',
      `hour ${hour} is larger than the Export API's 4 GB limit (HTTP 400); one hour cannot be split ` +
        "further, so export it through Amplitude's Amazon S3 export instead",
      { retryable: false, hour },
    );
  }
}

/**
 * Any other answer: 429 and 5xx are retried with backoff (429 after the server's Retry-After); a
 * redirect is not followed, since the credentials go to AMPLITUDE_EXPORT_URL only, and not retried.
 */
export class ExportHttpError extends LoaderError {
  readonly status: number;
  readonly retryAfterMs: number | undefined;

  constructor(hour: string, status: number, detail: string, extra: { retryAfterMs?: number | undefined; location?: string | undefined } = {}) {
    const reason =
      status === 429
        ? 'rate limited'
        : status === 504
          ? "the export timed out on Amplitude's side"
          : status >= 500
            ? 'server error'
            : status >= 300 && status < 400
              ? `a redirect to ${extra.location ?? 'an address it did not give'}, which the loader does not follow: the credentials go only to ` +
                "AMPLITUDE_EXPORT_URL; set it to the new address if that is Amplitude's"
              : 'the request was refused';
    super('EXPORT_HTTP', `the Export API answered HTTP ${status} (${reason}) for hour ${hour}${detail ? `: ${detail}` : ''}`, {
      retryable: status === 429 || status >= 500,
      hour,
    });
    this.status = status;
    this.retryAfterMs = extra.retryAfterMs;
  }
}

/** The transfer itself went wrong: network, truncation, too slow, a 200 that is not a zip. */
export class DownloadError extends LoaderError {
  constructor(hour: string, message: string, cause?: unknown) {
    super('DOWNLOAD', `hour ${hour}: ${message}`, { retryable: true, hour, cause });
  }

  /** The Export API's host could not be reached at all (DNS, refused, no route), rather than failing mid-answer. */
  get unreachable(): boolean {
    return UNREACHABLE_CODES.has(String((this.cause as { code?: unknown } | undefined)?.code));
  }
}

const UNREACHABLE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** A zip or gzip that cannot be read. Retried: a damaged download is the usual cause. */
/** An archive or entry that cannot be read; retried only when a new copy could differ (see ArchiveOrigin). */
export class ArchiveError extends LoaderError {
  constructor(hour: string, entry: string | undefined, message: string, options: { retryable: boolean; cause?: unknown }) {
    super('ARCHIVE', `hour ${hour}${entry ? `, entry ${entry}` : ''}: ${message}`, { ...options, hour, entry });
  }
}

/**
 * An archive beyond a configured bound (its size, an entry's or the hour's decompressed bytes, a
 * line's length). Fails the hour: the same archive would exceed it again.
 */
export class LimitExceededError extends LoaderError {
  constructor(
    context: ErrorContext & { hour: string },
    readonly what: string,
    readonly flag: string,
    readonly limit: number,
  ) {
    const where = [`hour ${context.hour}`, context.entry ? `entry ${context.entry}` : '', context.line ? `line ${context.line}` : '']
      .filter(Boolean)
      .join(', ');
    super('LIMIT_EXCEEDED', `${where}: ${what} exceeds ${flag} (${limit} bytes); raise it if the archive is genuine`, {
      retryable: false,
      ...context,
    });
  }
}

export class DatabaseError extends LoaderError {
  readonly sqlState: string | undefined;

  constructor(message: string, options: { retryable: boolean; sqlState?: string; cause?: unknown } & ErrorContext) {
    super('DATABASE', message, options);
    this.sqlState = options.sqlState;
  }
}

/**
 * Another loader took the hour over (this one stalled past its lease); it must not commit. Not a
 * failure of the hour: the other loader finishes it.
 */
export class ClaimLostError extends LoaderError {
  constructor(hour: string) {
    super('CLAIM_LOST', `hour ${hour} was taken over by another loader; this one rolled back`, { retryable: false, hour });
  }
}

/** The first hours all failed to reach the Export API's host: the next would only repeat it. */
export class ExportUnreachableError extends LoaderError {
  constructor(first: LoaderError) {
    super(
      'UNREACHABLE',
      `no hour could reach the Export API, so the hours left are not tried: ${first.message}; check the network, DNS, AMPLITUDE_REGION and AMPLITUDE_EXPORT_URL`,
      { retryable: false, scope: 'pass', cause: first },
    );
  }
}

export class AbortedError extends LoaderError {
  constructor() {
    super('ABORTED', 'the run was interrupted', { retryable: false, scope: 'run' });
  }
}

/**
 * SQLSTATE classes that a new attempt can get past: connection loss, serialization failures and
 * deadlocks, lack of resources, operator intervention (a restarting server). Everything else is
 * a defect in the data or the schema, and retrying would only repeat it.
 */
const RETRYABLE_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57']);
const RETRYABLE_SQLSTATES = new Set(['55P03']); // lock_not_available

export function isRetryableSqlState(sqlState: string): boolean {
  return RETRYABLE_SQLSTATES.has(sqlState) || RETRYABLE_SQLSTATE_CLASSES.has(sqlState.slice(0, 2));
}

/** Errors that are defects in this program; a new attempt would repeat them. */
function isProgrammingError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError;
}

const SOCKET_LOST_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNABORTED']);

// The server is not there yet, or not taking connections yet: a database starting, restarting or
// out of reach. Not a password, a database name or a right, which no wait can mend.
const NOT_THERE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
const NOT_THERE_SQLSTATES = new Set(['57P01', '57P02', '57P03']);

/** Whether `error` (or what caused it) says the database could not be reached, rather than refused us. */
export function isDatabaseUnreachable(error: unknown): boolean {
  for (let at: unknown = error; at instanceof Error; at = (at as { cause?: unknown }).cause) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string' && typeof (at as { severity?: unknown }).severity === 'string') {
      return code.startsWith('08') || NOT_THERE_SQLSTATES.has(code);
    }
    if (typeof code === 'string' && NOT_THERE_CODES.has(code)) return true;
    if (at instanceof LoaderError) continue;
    // node-postgres says these without a code: the socket closed, or the pool gave up waiting.
    if (/Connection terminated|timeout (expired|exceeded)/i.test(at.message)) return true;
  }
  return false;
}

/** Wraps anything thrown while talking to Postgres into a DatabaseError classified by SQLSTATE. */
export function classifyDatabaseError(error: unknown, context: ErrorContext & { doing: string }): LoaderError {
  if (error instanceof LoaderError) return error;
  // Only the server's ErrorResponse carries a severity; Node's socket errors have codes like EPIPE.
  const fromServer = typeof (error as { severity?: unknown })?.severity === 'string';
  const code = (error as { code?: unknown })?.code;
  const sqlState = fromServer && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const isSqlState = sqlState !== undefined;
  const message = error instanceof Error ? error.message : String(error);
  // Without a SQLSTATE the server never answered: the connection or the socket failed on the way.
  const retryable = isSqlState ? isRetryableSqlState(sqlState) : !isProgrammingError(error);
  const where = context.hour ? `hour ${context.hour}: ` : '';
  // A write can fail on the closed socket before the server's reason (e.g. 57P01) is read.
  const lost = !isSqlState && SOCKET_LOST_CODES.has(String(code)) ? 'the connection to PostgreSQL was lost: ' : '';
  const waited = sqlState === '55P03' ? '; another session held a lock it needed for longer than --lock-wait' : '';
  return new DatabaseError(`${where}${context.doing} failed${isSqlState ? ` (SQLSTATE ${sqlState})` : ''}: ${lost}${message}${waited}`, {
    retryable,
    ...(isSqlState ? { sqlState } : {}),
    cause: error,
    ...context,
  });
}
