import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { LocalExportApi } from '../../src/demo/local-export-api.js';

/** One scripted answer of the fake Export API. */
export interface FakeAnswer {
  readonly status: number;
  readonly body?: Buffer | string;
  readonly headers?: Record<string, string>;
  /** Announce the full length but send only this many bytes, then cut the connection. */
  readonly truncateAt?: number;
  /** Wait this long before answering. */
  readonly delayMs?: number;
  /** Send no Content-Length: the body goes chunked, as some proxies answer. */
  readonly chunked?: boolean;
  /** Send no Content-Length and no chunking: the body ends when the server closes the connection. */
  readonly closeDelimited?: boolean;
  /** Stream this file as the body (archives too large to hold in memory). */
  readonly file?: string;
  /** Send the body in this many pieces, `pieceDelayMs` apart: a slow download. */
  readonly pieces?: number;
  readonly pieceDelayMs?: number;
}

export interface RecordedRequest {
  readonly start: string | null;
  readonly end: string | null;
  readonly authorization: string | undefined;
  readonly at: number;
}

/**
 * A real HTTP server on 127.0.0.1 standing in for Amplitude's Export API, with faults: each hour
 * answers from its script in order, the last answer repeating; an hour without a script answers 404 as
 * Amplitude does; credentials other than the expected ones answer 403.
 */
export class FakeExportApi extends LocalExportApi {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, FakeAnswer[]>();
  private readonly served = new Map<string, number>();
  constructor(private readonly credentials = { apiKey: 'test-api-key', secretKey: 'test-secret-key' }) {
    super();
  }

  /** Scripts the answers for one hour (`YYYYMMDDTHH`). */
  answer(hourLabel: string, ...answers: FakeAnswer[]): this {
    this.scripts.set(hourLabel, answers);
    this.served.set(hourLabel, 0);
    return this;
  }

  /** Scripts a 200 with this zip archive. */
  archive(hourLabel: string, zip: Buffer): this {
    return this.answer(hourLabel, { status: 200, body: zip, headers: { 'content-type': 'application/zip' } });
  }

  requestsFor(hourLabel: string): RecordedRequest[] {
    return this.requests.filter((r) => r.start === hourLabel);
  }

  protected override async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const start = url.searchParams.get('start');
    this.requests.push({ start, end: url.searchParams.get('end'), authorization: req.headers.authorization, at: Date.now() });
    const expected = `Basic ${Buffer.from(`${this.credentials.apiKey}:${this.credentials.secretKey}`).toString('base64')}`;
    if (url.pathname !== '/api/2/export') {
      res.writeHead(404).end('Not found');
      return;
    }
    if (req.headers.authorization !== expected) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Invalid API key');
      return;
    }
    const script = start ? this.scripts.get(start) : undefined;
    if (!script || script.length === 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Raw data files were not found.');
      return;
    }
    const index = this.served.get(start!) ?? 0;
    this.served.set(start!, index + 1);
    const answer = script[Math.min(index, script.length - 1)]!;
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (answer.file) {
      res.writeHead(answer.status, { 'content-length': String((await stat(answer.file)).size), ...answer.headers });
      await pipeline(createReadStream(answer.file), res).catch(() => {});
      return;
    }
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : (answer.body ?? Buffer.alloc(0));
    if (answer.closeDelimited) {
      const headers = Object.entries(answer.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('');
      req.socket.write(`HTTP/1.1 ${answer.status} OK\r\nConnection: close\r\n${headers}\r\n`);
      req.socket.end(body);
      return;
    }
    res.writeHead(answer.status, { ...(answer.chunked ? {} : { 'content-length': String(body.length) }), ...answer.headers });
    if (answer.truncateAt !== undefined) {
      res.write(body.subarray(0, answer.truncateAt), () => res.socket?.destroy());
      return;
    }
    if (answer.pieces && answer.pieces > 1) {
      const size = Math.ceil(body.length / answer.pieces);
      for (let at = 0; at < body.length && !res.destroyed; at += size) {
        res.write(body.subarray(at, at + size));
        await new Promise((resolve) => setTimeout(resolve, answer.pieceDelayMs ?? 100));
      }
    }
    res.end(answer.pieces && answer.pieces > 1 ? undefined : body);
  }
}
