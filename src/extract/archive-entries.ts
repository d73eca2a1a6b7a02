import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
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

export function entryKind(name: string): 'gzip' | 'plain' | 'skip' {
  if (name.endsWith('/')) return 'skip';
  if (name.endsWith('.gz')) return 'gzip';
  if (name.endsWith('.json')) return 'plain';
  return 'skip';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The file name of an entry, decoded without yauzl's path checks (see openZip). */
export function entryName(entry: yauzl.Entry): string {
  return yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
}

/**
 * Opens a zip for lazy, one-at-a-time entries. Names are decoded without yauzl's path checks: they
 * only label rows and are never used as paths, so an entry called "../x.json.gz" loads like any other
 * instead of failing the archive.
 */
export async function openZip(path: string, hourLabel: string): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.openPromise(path, { lazyEntries: true, autoClose: true, decodeStrings: false });
  } catch (error) {
    throw new ArchiveError(hourLabel, undefined, `the archive cannot be read: ${describe(error)}`, error);
  }
}

/** Every entry of a zip, in order, with its decoded name. */
export async function* zipEntries(zip: yauzl.ZipFile, hourLabel: string): AsyncGenerator<{ entry: yauzl.Entry; name: string }> {
  const entries = zip.eachEntry();
  for (;;) {
    let next: IteratorResult<yauzl.Entry>;
    try {
      next = await entries.next();
    } catch (error) {
      throw new ArchiveError(hourLabel, undefined, `the archive is corrupt: ${describe(error)}`, error);
    }
    if (next.done) return;
    yield { entry: next.value, name: entryName(next.value) };
  }
}

/**
 * Reads the archive at `path` one entry at a time (yauzl with lazy entries), so memory holds one
 * entry's stream, never the archive. `.gz` entries are gunzipped, `.json` entries read as they are,
 * folders and anything else skipped, and so is any entry `include` refuses. Each entry must be
 * consumed before the next is requested.
 */
export async function* readArchiveEntries(
  path: string,
  hourLabel: string,
  limits: DecompressionLimits,
  include: (name: string) => boolean = () => true,
  hourTotal = { bytes: 0 },
): AsyncGenerator<ArchiveEntry> {
  const zip = await openZip(path, hourLabel);
  try {
    for await (const { entry, name } of zipEntries(zip, hourLabel)) {
      const kind = entryKind(name);
      if (kind === 'skip' || !include(name)) continue;
      yield {
        name,
        chunks: () =>
          decompressedChunks(() => zip.openReadStreamPromise(entry), name, kind === 'gzip', hourLabel, limits, hourTotal),
      };
    }
  } finally {
    zip.close();
  }
}

/** Loose `.json.gz` (or `.json`) part files, as Amplitude's S3 export writes them, as one hour's entries. */
export async function* readPartFiles(
  files: readonly { path: string; name: string }[],
  hourLabel: string,
  limits: DecompressionLimits,
  hourTotal = { bytes: 0 },
): AsyncGenerator<ArchiveEntry> {
  for (const file of files) {
    yield {
      name: file.name,
      chunks: () =>
        decompressedChunks(async () => createReadStream(file.path), file.name, entryKind(file.name) === 'gzip', hourLabel, limits, hourTotal),
    };
  }
}

async function* decompressedChunks(
  open: () => Promise<Readable>,
  name: string,
  gunzip: boolean,
  hourLabel: string,
  limits: DecompressionLimits,
  hourTotal: { bytes: number },
): AsyncGenerator<Buffer> {
  let source: NodeJS.ReadableStream & { destroy(): void };
  try {
    const raw = await open();
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
