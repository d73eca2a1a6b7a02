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

/** An entry the loader does not read, and why: it is named in the log and counted, never dropped unseen. */
export interface SkippedEntry {
  readonly name: string;
  readonly skippedBecause: string;
}

export type ArchiveItem = ArchiveEntry | SkippedEntry;

/**
 * Where an archive came from decides whether a failure to read it is worth another attempt: a download
 * whose length nothing vouched for (a close-delimited answer) may have been cut short and may come
 * whole next time; an archive whose length was checked, or a file on disk, would fail the same way.
 */
export interface ArchiveOrigin {
  readonly hourLabel: string;
  readonly rereadMayHelp: boolean;
}

/** Bounds on what one archive may decompress to: a zip bomb fails its hour, not the machine. */
export interface DecompressionLimits {
  readonly maxEntryBytes: number;
  readonly maxHourBytes: number;
}

/** How an entry is read, by its name: gunzipped, as it is, or not at all (a folder, or not NDJSON). */
export function entryKind(name: string): 'gzip' | 'plain' | 'folder' | 'other' {
  if (name.endsWith('/')) return 'folder';
  const lower = name.toLowerCase();
  if (lower.endsWith('.gz')) return 'gzip';
  if (lower.endsWith('.json') || lower.endsWith('.ndjson')) return 'plain';
  return 'other';
}

export const NOT_NDJSON = 'its name does not end in .json.gz, .gz, .json or .ndjson';

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
 * instead of failing the archive. Entry sizes are checked in zipEntries, where an encrypted entry can
 * be told from a corrupt one (yauzl reports both as a size mismatch).
 */
export async function openZip(path: string, origin: ArchiveOrigin): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.openPromise(path, { lazyEntries: true, autoClose: true, decodeStrings: false, validateEntrySizes: false });
  } catch (error) {
    throw new ArchiveError(origin.hourLabel, undefined, `the archive cannot be read: ${describe(error)}`, { retryable: origin.rereadMayHelp, cause: error });
  }
}

/** Every entry of a zip, in order, with its decoded name. */
export async function* zipEntries(zip: yauzl.ZipFile, origin: ArchiveOrigin): AsyncGenerator<{ entry: yauzl.Entry; name: string }> {
  const entries = zip.eachEntry();
  for (;;) {
    let next: IteratorResult<yauzl.Entry>;
    try {
      next = await entries.next();
    } catch (error) {
      throw new ArchiveError(origin.hourLabel, undefined, `the archive is corrupt: ${describe(error)}`, { retryable: origin.rereadMayHelp, cause: error });
    }
    if (next.done) return;
    const entry = next.value;
    const name = entryName(entry);
    if (entry.isEncrypted()) {
      throw new ArchiveError(origin.hourLabel, name, 'the entry is encrypted (a password-protected zip); the loader reads only unencrypted archives', {
        retryable: false,
      });
    }
    // A stored entry is its bytes: sizes that differ mean a damaged header.
    if (entry.compressionMethod === 0 && entry.compressedSize !== entry.uncompressedSize) {
      throw new ArchiveError(origin.hourLabel, name, `the entry is corrupt: ${entry.compressedSize} bytes stored for ${entry.uncompressedSize}`, {
        retryable: origin.rereadMayHelp,
      });
    }
    yield { entry, name };
  }
}

/**
 * Reads the archive at `path` one entry at a time (yauzl with lazy entries), so memory holds one
 * entry's stream, never the archive. `.gz` entries are gunzipped, `.json` and `.ndjson` entries read
 * as they are, folders passed over, anything else yielded as skipped; entries `include` refuses
 * belong elsewhere and are passed over. Each entry must be consumed before the next is requested.
 */
export async function* readArchiveEntries(
  path: string,
  origin: ArchiveOrigin,
  limits: DecompressionLimits,
  include: (name: string) => boolean = () => true,
  hourTotal = { bytes: 0 },
): AsyncGenerator<ArchiveItem> {
  const zip = await openZip(path, origin);
  try {
    for await (const { entry, name } of zipEntries(zip, origin)) {
      const kind = entryKind(name);
      if (kind === 'folder' || !include(name)) continue;
      if (kind === 'other') {
        yield { name, skippedBecause: NOT_NDJSON };
        continue;
      }
      yield {
        name,
        chunks: () => decompressedChunks(() => zip.openReadStreamPromise(entry), name, kind === 'gzip', origin, limits, hourTotal),
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
  const origin = { hourLabel, rereadMayHelp: false };
  for (const file of files) {
    yield {
      name: file.name,
      chunks: () => decompressedChunks(async () => createReadStream(file.path), file.name, entryKind(file.name) === 'gzip', origin, limits, hourTotal),
    };
  }
}

async function* decompressedChunks(
  open: () => Promise<Readable>,
  name: string,
  gunzip: boolean,
  origin: ArchiveOrigin,
  limits: DecompressionLimits,
  hourTotal: { bytes: number },
): AsyncGenerator<Buffer> {
  const hourLabel = origin.hourLabel;
  const failure = (what: string, error: unknown) =>
    new ArchiveError(hourLabel, name, `${what}: ${describe(error)}`, { retryable: origin.rereadMayHelp, cause: error });
  let source: NodeJS.ReadableStream & { destroy(): void };
  try {
    const raw = await open();
    // The callback form hands back the last stream; a failure anywhere destroys it with the error.
    source = gunzip ? pipeline(raw, createGunzip({ chunkSize: 64 * 1024 }), () => {}) : raw;
  } catch (error) {
    throw failure('the entry cannot be opened', error);
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
    throw failure('the entry is corrupt', error);
  } finally {
    source.destroy();
  }
}
