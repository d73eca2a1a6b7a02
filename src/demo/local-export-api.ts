import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

/** An hour's archive: in memory, or a file streamed from disk (any size). */
export type LocalArchive = Buffer | { readonly file: string };

/**
 * An HTTP server on 127.0.0.1 that answers Export API requests from local archives, by the `start`
 * hour: a zip with 200, or 404 ("Raw data files were not found.") as Amplitude answers an hour without
 * data. Any credentials pass. The demo serves its sample this way, the bench its generated export.
 */
export class LocalExportApi {
  private server: Server | undefined;
  url = '';

  constructor(private readonly archives: ReadonlyMap<string, LocalArchive> = new Map()) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/2/export`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const archive = this.archives.get(new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('start') ?? '');
    if (archive === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Raw data files were not found.');
    } else if (Buffer.isBuffer(archive)) {
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(archive.length) }).end(archive);
    } else {
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String((await stat(archive.file)).size) });
      await pipeline(createReadStream(archive.file), res).catch(() => {});
    }
  }
}
