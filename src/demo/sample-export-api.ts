import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sampleEvents } from './sample-events.js';
import { hourZip } from './zip-writer.js';

/** Any key and secret pass: the demo's Export API only stands in for Amplitude's. */
export const SAMPLE_API_KEY = 'demo-api-key';
export const SAMPLE_SECRET_KEY = 'demo-secret-key';

/**
 * A local stand-in for the Export API serving the sample events, on 127.0.0.1: each hour's events as a
 * zip of one gzipped NDJSON part, 404 for hours without events, as Amplitude answers.
 */
export class SampleExportApi {
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    const byHour = new Map<string, string[]>();
    for (const event of sampleEvents()) {
      const lines = byHour.get(event.uploadHour) ?? [];
      lines.push(event.line);
      byHour.set(event.uploadHour, lines);
    }
    this.server = createServer((req, res) => {
      const start = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('start') ?? '';
      const lines = byHour.get(start);
      if (!lines) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Raw data files were not found.');
        return;
      }
      const zip = hourZip(187520, start, `${lines.join('\n')}\n`);
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(zip.length) }).end(zip);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/2/export`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
