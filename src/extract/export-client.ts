import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import {
  AbortedError,
  ArchiveError,
  AuthRefusedError,
  DownloadError,
  ExportHttpError,
  ExportTooLargeError,
  LimitExceededError,
  LoaderError,
} from '../errors.js';
import { formatHour, type UploadHour } from '../hour.js';

export interface ExportClientSettings {
  readonly exportUrl: string;
  readonly apiKey: string;
  readonly secretKey: string;
  readonly tempDir: string;
  /** Larger archives fail their hour (Amplitude itself stops at 4 GB). */
  readonly maxArchiveBytes: number;
  /** A download (request to last byte) that takes longer fails, and is retried. */
  readonly downloadTimeoutSeconds: number;
  /** A body arriving slower than this, over any window, fails, and is retried; 0 turns the check off. */
  readonly minDownloadBytesPerSecond: number;
  /** The answer's headers must have arrived this long after the request; before its first byte the rate is not checked. */
  readonly headersTimeoutSeconds: number;
  /** The window of that check: long enough for a pause, short enough that a trickle is noticed. */
  readonly rateWindowSeconds?: number;
}

const RATE_WINDOW_SECONDS = 60;

/** Told the bytes of an answer received so far, and its Content-Length when it gave one. */
export type DownloadProgress = (bytes: number, expected: number | undefined) => void;

/** What the Export API had for one hour: nothing (404), or a zip archive now in a temp file. */
export type HourDownload =
  | { readonly kind: 'empty' }
  | {
      readonly kind: 'archive';
      readonly path: string;
      readonly bytes: number;
      /** The answer's framing (Content-Length, or chunked) proved it whole; a close-delimited one cannot. */
      readonly lengthVerified: boolean;
    };

/** This loader's private temp folders (and, before them, its temp files) begin with this. */
export const TEMP_FILE_PREFIX = 'amplitude-pg-';

const ZIP_LOCAL_FILE_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
// An archive without entries is only its end-of-central-directory record.
const ZIP_EMPTY_ARCHIVE = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const MAX_RETRY_AFTER_MS = 15 * 60_000;

const STALE_AFTER_MS = 24 * 3_600_000;
// A run's private folder, `amplitude-pg-<pid>-XXXXXX` (mkdtemp), and archives of earlier versions, loose.
const RUN_FOLDER = /^amplitude-pg-(\d+)-[A-Za-z0-9]{6}$/;
const LOOSE_ARCHIVE = /^amplitude-pg-\d{8}T\d{2}-(\d+)-[0-9a-f]+\.zip$/;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what a killed loader left in the temp folder: private folders and archives whose process is
 * gone, and any older than a day. Returns how many archives went with them.
 */
export async function removeStaleTempFiles(tempDir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tempDir)) {
    const match = RUN_FOLDER.exec(name) ?? LOOSE_ARCHIVE.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    const path = join(tempDir, name);
    try {
      const info = await stat(path);
      if (pid === process.pid || (isRunning(pid) && Date.now() - info.mtimeMs <= STALE_AFTER_MS)) continue;
      removed += info.isDirectory() ? (await readdir(path)).length : 1;
      await rm(path, { recursive: true, force: true });
    } catch {
      // Removed meanwhile by its own loader.
    }
  }
  return removed;
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = /^\s*\d+\s*$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/** What can end one download, and how far it got. */
interface Transfer {
  /** The run's: an interruption. */
  readonly run: AbortSignal;
  readonly deadline: AbortSignal;
  readonly tooSlow: AbortController;
  /** Any of the three. */
  readonly signal: AbortSignal;
  /** Bytes of the body written so far. */
  bytes: number;
  /** The connection of this exchange: its bytes, headers included, are what the minimum rate counts. */
  socket: Socket | undefined;
  readonly started: number;
}

// Content codings a proxy may apply to the zip, and how each is undone.
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

const CONNECT_TIMEOUT_MS = 10_000;

/** Where a redirect points, without any credentials or query it may carry. */
function redirectTarget(location: string | string[] | undefined, base: URL): string | undefined {
  const text = Array.isArray(location) ? location[0] : location;
  if (!text) return undefined;
  try {
    const target = new URL(text, base);
    return `${target.origin}${target.pathname}`;
  } catch {
    return undefined;
  }
}

/** A short, printable sample of an answer body for an error message. */
function describeBody(sample: Buffer): string {
  const text = sample.toString('utf8').replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim();
  return text.length > 120 ? `${text.slice(0, 120)}...` : text;
}

/** The codings of a Content-Encoding header, in the order they were applied; `identity` is none. */
function contentCodings(header: string | string[] | undefined): string[] {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  return text
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** Drops an answer body unread; undici reports the abort as an error nobody needs. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.once('error', () => {});
  body.destroy();
}

async function readSample(body: Dispatcher.ResponseData['body'], limit = 512): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= limit) break;
    }
  } catch {
    // The sample only decorates an error message; a broken body must not replace that error.
  } finally {
    discard(body);
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/**
 * Writes a response body to a new file (mode 0600) as each chunk arrives. Synchronous writes keep the
 * body stream from ever buffering, so undici never pauses its HTTP/1 parser for backpressure: undici 7
 * crashes the process (an assertion in its socket 'end' handler) when a server closes the connection
 * while the parser is paused, as a close-delimited answer does. `inspect` sees each chunk first and may
 * throw to stop.
 */
function writeBody(body: Dispatcher.ResponseData['body'], path: string, inspect: (chunk: Buffer) => void, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let fd: number | undefined;
    const finish = (error?: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => {
      discard(body);
      finish(signal.reason ?? new Error('aborted'));
    };
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      discard(body);
      reject(error);
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    if (body.destroyed) {
      finish(body.errored ?? new Error('the body closed before it ended'));
      return;
    }
    body.on('data', (chunk: Buffer) => {
      if (fd === undefined) return;
      try {
        inspect(chunk);
        writeSync(fd, chunk);
      } catch (error) {
        discard(body);
        finish(error);
      }
    });
    body.once('end', () => finish());
    body.once('error', (error) => finish(error));
    // After 'end' this changes nothing; before it, the body was cut off.
    body.once('close', () => finish(new Error('the body closed before it ended')));
  });
}

/**
 * The Export API client: one request per upload hour, on keep-alive connections, the body streamed
 * to a temp file and checked (length, zip signature) before anyone reads it.
 */
export class ExportClient {
  private readonly connector = buildConnector({ timeout: CONNECT_TIMEOUT_MS });
  private readonly authorization: string;
  /** Where this run's archives go: a folder only this user may enter (they hold user ids and IPs). */
  private folder: Promise<string> | undefined;

  constructor(private readonly settings: ExportClientSettings) {
    this.authorization = `Basic ${Buffer.from(`${settings.apiKey}:${settings.secretKey}`).toString('base64')}`;
  }

  /** Downloads one hour. Throws a LoaderError whose `retryable` says whether trying again can help. */
  async downloadHour(hour: UploadHour, signal: AbortSignal, onBytes?: DownloadProgress): Promise<HourDownload> {
    const label = formatHour(hour);
    // Before the request: between the answer and its reading nothing may wait, or its end goes unseen.
    this.folder ??= mkdtemp(join(this.settings.tempDir, `${TEMP_FILE_PREFIX}${process.pid}-`));
    const folder = await this.folder;
    const url = new URL(this.settings.exportUrl);
    url.searchParams.set('start', label);
    url.searchParams.set('end', label);
    // The run's interruption, the download's deadline, and the rate check below each end the transfer.
    const deadline = AbortSignal.timeout(this.settings.downloadTimeoutSeconds * 1000);
    const tooSlow = new AbortController();
    const transfer: Transfer = {
      run: signal,
      deadline,
      tooSlow,
      signal: AbortSignal.any([signal, deadline, tooSlow.signal]),
      bytes: 0,
      socket: undefined,
      started: Date.now(),
    };
    // A connection of its own, so the rate check can count what arrives on it, headers included.
    const agent = new Agent({
      connections: 1,
      headersTimeout: this.settings.headersTimeoutSeconds * 1000,
      bodyTimeout: 5 * 60_000,
      connect: (options, callback) =>
        this.connector(options, (error, socket) => {
          if (socket) transfer.socket = socket as Socket;
          if (error) callback(error, null);
          else callback(null, socket as Socket);
        }),
    });
    const rateCheck = this.watchRate(label, transfer);
    try {
      return await this.exchange(label, url, folder, agent, transfer, onBytes);
    } finally {
      clearInterval(rateCheck);
      await agent.destroy().catch(() => {});
    }
  }

  private async exchange(label: string, url: URL, folder: string, agent: Agent, transfer: Transfer, onBytes: DownloadProgress | undefined): Promise<HourDownload> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        dispatcher: agent,
        method: 'GET',
        headers: { authorization: this.authorization, accept: 'application/zip' },
        signal: transfer.signal,
      });
    } catch (error) {
      throw this.transferError(label, 'the request failed', error, transfer);
    }

    const { statusCode, headers, body } = response;
    if (statusCode === 404 || statusCode === 401 || statusCode === 403 || statusCode === 400) {
      // Read the short answer to its end so the keep-alive connection can serve the next hour.
      await body.dump({ limit: 64 * 1024 }).catch(() => {});
      if (statusCode === 404) return { kind: 'empty' };
      if (statusCode === 400) throw new ExportTooLargeError(label);
      throw new AuthRefusedError(label, statusCode);
    }
    if (statusCode !== 200) {
      const sample = describeBody(await readSample(body));
      throw new ExportHttpError(label, statusCode, sample, {
        retryAfterMs: statusCode === 429 ? parseRetryAfter(headers['retry-after']) : undefined,
        location: redirectTarget(headers.location, url),
      });
    }
    return this.saveArchive(label, folder, headers, body, transfer, onBytes);
  }

  private async saveArchive(
    label: string,
    folder: string,
    headers: Dispatcher.ResponseData['headers'],
    body: Dispatcher.ResponseData['body'],
    transfer: Transfer,
    onBytes: DownloadProgress | undefined,
  ): Promise<HourDownload> {
    const limit = this.settings.maxArchiveBytes;
    const announced = Number(headers['content-length']);
    if (announced > limit) {
      discard(body);
      throw new LimitExceededError({ hour: label }, `the archive (${announced} bytes announced)`, '--max-archive-bytes', limit);
    }
    const path = join(folder, `${label}-${randomBytes(4).toString('hex')}.zip`);
    let bytes = 0;
    let head: Buffer = Buffer.alloc(0);
    const codings = contentCodings(headers['content-encoding']);
    const unknown = codings.find((coding) => DECODERS[coding] === undefined);
    if (unknown !== undefined) {
      discard(body);
      throw new ArchiveError(label, undefined, `the answer is encoded as "${unknown}" (Content-Encoding), which the loader cannot decode; a proxy between it and the Export API may have applied it`, {
        retryable: false,
      });
    }
    try {
      try {
        await writeBody(body, path, (chunk) => {
          if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
          bytes += chunk.length;
          transfer.bytes = bytes;
          onBytes?.(bytes, Number.isFinite(announced) ? announced : undefined);
          if (bytes > limit) throw new LimitExceededError({ hour: label }, 'the archive', '--max-archive-bytes', limit);
        }, transfer.signal);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'ENOSPC' || code === 'EDQUOT') {
          throw new DownloadError(label, `the temp folder ${this.settings.tempDir} is full`, error);
        }
        throw this.transferError(label, `the download broke off after ${bytes} bytes`, error, transfer);
      }
      const expected = Number(headers['content-length']);
      if (headers['content-length'] !== undefined && Number.isFinite(expected) && expected !== bytes) {
        throw new DownloadError(label, `the download is truncated: ${bytes} of ${expected} bytes arrived`);
      }
      if (codings.length > 0) {
        bytes = await this.decode(label, path, codings);
        head = (await this.readHead(path)).subarray(0, 4);
      }
      if (!head.equals(ZIP_LOCAL_FILE_HEADER) && !head.equals(ZIP_EMPTY_ARCHIVE)) {
        throw new DownloadError(
          label,
          `the answer (HTTP 200, ${bytes} bytes${codings.length > 0 ? ` after undoing Content-Encoding ${codings.join(', ')}` : ''}) is not a zip archive; it begins "${describeBody(await this.readHead(path))}"`,
        );
      }
      const chunked = /chunked/i.test(String(headers['transfer-encoding'] ?? ''));
      return { kind: 'archive', path, bytes, lengthVerified: headers['content-length'] !== undefined || chunked };
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }

  /**
   * Undoes the answer's content codings (last applied, first undone) into the archive's file; the
   * decoded archive is held to --max-archive-bytes like any other. Returns its size.
   */
  private async decode(label: string, path: string, codings: readonly string[]): Promise<number> {
    const limit = this.settings.maxArchiveBytes;
    const decoded = `${path}.decoded`;
    let bytes = 0;
    const bounded = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > limit) done(new LimitExceededError({ hour: label }, 'the decoded archive', '--max-archive-bytes', limit));
        else done(null, chunk);
      },
    });
    try {
      const decoders = [...codings].reverse().map((coding) => (DECODERS[coding] as () => Transform)());
      await pipeline([createReadStream(path), ...decoders, bounded, createWriteStream(decoded, { mode: 0o600 })]);
    } catch (error) {
      await rm(decoded, { force: true });
      if (error instanceof LoaderError) throw error;
      throw new ArchiveError(label, undefined, `the answer's Content-Encoding ${codings.join(', ')} cannot be undone: ${(error as Error).message}`, {
        retryable: true,
        cause: error,
      });
    }
    await rename(decoded, path);
    return bytes;
  }

  private async readHead(path: string): Promise<Buffer> {
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(120);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  /**
   * Every window, ends a transfer that received less than the minimum rate allows in it, counting every
   * byte of the exchange from the request on (headers too). Only the wait for the answer's first byte
   * is exempt: Amplitude prepares a large hour before answering; --headers-timeout bounds that wait.
   */
  private watchRate(label: string, transfer: Transfer): NodeJS.Timeout | undefined {
    const rate = this.settings.minDownloadBytesPerSecond;
    if (rate <= 0) return undefined;
    const windowSeconds = this.settings.rateWindowSeconds ?? RATE_WINDOW_SECONDS;
    const received = () => transfer.socket?.bytesRead ?? 0;
    let before = 0;
    const timer = setInterval(() => {
      const now = received();
      const inWindow = now - before;
      before = now;
      if (now === 0 || inWindow >= rate * windowSeconds) return;
      transfer.tooSlow.abort(
        new DownloadError(
          label,
          `the download is slower than --min-download-rate ${rate} bytes/s: ${inWindow} bytes in the last ${windowSeconds} s ` +
            `(${now} in all, headers included)`,
        ),
      );
    }, windowSeconds * 1000);
    timer.unref();
    return timer;
  }

  private transferError(label: string, what: string, error: unknown, transfer: Transfer): LoaderError {
    if (transfer.run.aborted) return new AbortedError();
    if (transfer.tooSlow.signal.aborted) return transfer.tooSlow.signal.reason as LoaderError;
    if (transfer.deadline.aborted) {
      return new DownloadError(
        label,
        `the download did not finish within --download-timeout ${this.settings.downloadTimeoutSeconds} s (${transfer.bytes} bytes arrived)`,
      );
    }
    if (error instanceof LoaderError) return error;
    if ((error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT') {
      return new DownloadError(
        label,
        `the Export API's answer did not begin within --headers-timeout ${this.settings.headersTimeoutSeconds} s ` +
          `(${transfer.socket?.bytesRead ?? 0} bytes arrived)`,
        error,
      );
    }
    const reason = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
    return new DownloadError(label, `${what} (${reason})`, error);
  }

  /** Removes this run's temp folder. */
  async close(): Promise<void> {
    const folder = await this.folder?.catch(() => undefined);
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  }
}
