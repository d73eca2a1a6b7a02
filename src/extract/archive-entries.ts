import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import { ArchiveError } from '../errors.js';

/** One part file of an hour's archive; its chunks are the decompressed NDJSON bytes. */
export interface ArchiveEntry {
  readonly name: string;
  chunks(): AsyncIterable<Buffer>;
}

function entryKind(name: string): 'gzip' | 'plain' | 'skip' {
  if (name.endsWith('/')) return 'skip';
  if (name.endsWith('.gz')) return 'gzip';
  if (name.endsWith('.json')) return 'plain';
  return 'skip';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads the archive at `path` one entry at a time (yauzl with lazy entries), so memory holds one
 * entry's stream, never the archive. `.gz` entries are gunzipped, `.json` entries read as they are,
 * folders and anything else skipped. Each entry must be consumed before the next is requested.
 */
export async function* readArchiveEntries(path: string, hourLabel: string): AsyncGenerator<ArchiveEntry> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: true });
  } catch (error) {
    throw new ArchiveError(hourLabel, undefined, `the archive cannot be read: ${describe(error)}`, error);
  }
  try {
    const entries = zip.eachEntry();
    for (;;) {
      let next: IteratorResult<yauzl.Entry>;
      try {
        next = await entries.next();
      } catch (error) {
        throw new ArchiveError(hourLabel, undefined, `the archive is corrupt: ${describe(error)}`, error);
      }
      if (next.done) return;
      const entry = next.value;
      const kind = entryKind(entry.fileName);
      if (kind === 'skip') continue;
      yield {
        name: entry.fileName,
        chunks: () => readEntry(zip, entry, kind === 'gzip', hourLabel),
      };
    }
  } finally {
    zip.close();
  }
}

async function* readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, gunzip: boolean, hourLabel: string): AsyncGenerator<Buffer> {
  let source: NodeJS.ReadableStream & { destroy(): void };
  try {
    const raw = await zip.openReadStreamPromise(entry);
    // The callback form hands back the last stream; a failure anywhere destroys it with the error.
    source = gunzip ? pipeline(raw, createGunzip({ chunkSize: 64 * 1024 }), () => {}) : raw;
  } catch (error) {
    throw new ArchiveError(hourLabel, entry.fileName, `the entry cannot be opened: ${describe(error)}`, error);
  }
  try {
    for await (const chunk of source) yield chunk as Buffer;
  } catch (error) {
    throw new ArchiveError(hourLabel, entry.fileName, `the entry is corrupt: ${describe(error)}`, error);
  } finally {
    source.destroy();
  }
}
