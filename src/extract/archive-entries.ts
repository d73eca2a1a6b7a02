import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import { ArchiveError, LimitExceededError } from '../errors.js';

/** One part file of an hour's archive; its chunks are the decompressed NDJSON bytes. */
export interface ArchiveEntry {
  readonly name: string;
  chunks(): AsyncIterable<Buffer>;
}

/** Bounds on what one archive may decompress to: a zip bomb fails its hour, not the machine. */
export interface DecompressionLimits {
  readonly maxEntryBytes: number;
  readonly maxHourBytes: number;
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
export async function* readArchiveEntries(path: string, hourLabel: string, limits: DecompressionLimits): AsyncGenerator<ArchiveEntry> {
  const hourTotal = { bytes: 0 };
  let zip: yauzl.ZipFile;
  try {
    // Names are decoded here without yauzl's path checks: they only label rows and are never used as
    // paths, so an entry called "../x.json.gz" loads like any other instead of failing the archive.
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: true, decodeStrings: false });
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
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const kind = entryKind(name);
      if (kind === 'skip') continue;
      yield {
        name,
        chunks: () => readEntry(zip, entry, name, kind === 'gzip', hourLabel, limits, hourTotal),
      };
    }
  } finally {
    zip.close();
  }
}

async function* readEntry(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  name: string,
  gunzip: boolean,
  hourLabel: string,
  limits: DecompressionLimits,
  hourTotal: { bytes: number },
): AsyncGenerator<Buffer> {
  let source: NodeJS.ReadableStream & { destroy(): void };
  try {
    const raw = await zip.openReadStreamPromise(entry);
    // The callback form hands back the last stream; a failure anywhere destroys it with the error.
    source = gunzip ? pipeline(raw, createGunzip({ chunkSize: 64 * 1024 }), () => {}) : raw;
  } catch (error) {
    throw new ArchiveError(hourLabel, name, `the entry cannot be opened: ${describe(error)}`, error);
  }
  let entryBytes = 0;
  const context = { hour: hourLabel, entry: name };
  try {
    for await (const chunk of source) {
      entryBytes += (chunk as Buffer).length;
      hourTotal.bytes += (chunk as Buffer).length;
      if (entryBytes > limits.maxEntryBytes) {
        throw new LimitExceededError(context, 'the decompressed entry', '--max-entry-bytes', limits.maxEntryBytes);
      }
      if (hourTotal.bytes > limits.maxHourBytes) {
        throw new LimitExceededError(context, "the hour's decompressed entries", '--max-hour-bytes', limits.maxHourBytes);
      }
      yield chunk as Buffer;
    }
  } catch (error) {
    if (error instanceof LimitExceededError) throw error;
    throw new ArchiveError(hourLabel, name, `the entry is corrupt: ${describe(error)}`, error);
  } finally {
    source.destroy();
  }
}
