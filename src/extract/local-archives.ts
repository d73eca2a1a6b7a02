import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../errors.js';
import { formatHour, type UploadHour } from '../hour.js';
import { entryKind, NOT_NDJSON, openZip, readArchiveEntries, readPartFiles, zipEntries } from './archive-entries.js';
import { hourOfPartName } from './entry-names.js';
import type { HourSource, OpenedHour } from './hour-source.js';

interface HourParts {
  /** Zip archives holding entries of this hour, with those entries' names. */
  readonly zips: Map<string, Set<string>>;
  /** Loose part files of this hour. */
  readonly files: { path: string; name: string }[];
  bytes: number;
}

/**
 * Archives already on disk, for `--from-file`: Export API zips (one hour or many), and folders of
 * `.json.gz` part files as Amplitude's S3 export writes them. Parts are grouped by the hour their
 * names carry; each hour then loads exactly like one from the API.
 */
export class LocalArchives implements HourSource {
  private constructor(
    private readonly byHour: Map<UploadHour, HourParts>,
    /** Files and entries passed over (not NDJSON, or no hour in the name), and why. */
    readonly unrecognised: { name: string; reason: string }[],
  ) {}

  static async scan(paths: readonly string[]): Promise<LocalArchives> {
    const byHour = new Map<UploadHour, HourParts>();
    const unrecognised: { name: string; reason: string }[] = [];
    const NO_HOUR = 'its name carries no upload hour (<project>_<date>_<hour>#<n>.json.gz)';
    const partsOf = (hour: UploadHour) => {
      let parts = byHour.get(hour);
      if (!parts) byHour.set(hour, (parts = { zips: new Map(), files: [], bytes: 0 }));
      return parts;
    };
    // Each file and folder once, by device and inode: a path given twice, or a symbolic link back to a
    // folder above it, is not read again (a loop would otherwise be walked until the path is too long).
    const seen = new Set<string>();
    const visit = async (path: string): Promise<void> => {
      let info;
      try {
        info = await stat(path);
      } catch {
        throw new UsageError(`--from-file: ${path} does not exist`);
      }
      const identity = `${info.dev}:${info.ino}`;
      if (seen.has(identity)) return;
      seen.add(identity);
      if (info.isDirectory()) {
        for (const child of (await readdir(path)).sort()) await visit(join(path, child));
      } else if (path.toLowerCase().endsWith('.zip')) {
        const origin = { hourLabel: path, rereadMayHelp: false };
        const zip = await openZip(path, origin);
        try {
          for await (const { entry, name } of zipEntries(zip, origin)) {
            const kind = entryKind(name);
            if (kind === 'folder') continue;
            const hour = kind === 'other' ? undefined : hourOfPartName(name);
            if (hour === undefined) {
              unrecognised.push({ name: `${path}: ${name}`, reason: kind === 'other' ? NOT_NDJSON : NO_HOUR });
              continue;
            }
            const parts = partsOf(hour);
            if (!parts.zips.has(path)) parts.zips.set(path, new Set());
            parts.zips.get(path)!.add(name);
            parts.bytes += entry.compressedSize;
          }
        } finally {
          zip.close();
        }
      } else {
        const kind = entryKind(path);
        const hour = kind === 'other' ? undefined : hourOfPartName(basename(path));
        if (hour === undefined) {
          unrecognised.push({ name: path, reason: kind === 'other' ? NOT_NDJSON : NO_HOUR });
          return;
        }
        const parts = partsOf(hour);
        parts.files.push({ path, name: basename(path) });
        parts.bytes += info.size;
      }
    };
    for (const path of paths) await visit(path);
    return new LocalArchives(byHour, unrecognised);
  }

  /** The hours found, oldest first. */
  hours(): UploadHour[] {
    return [...this.byHour.keys()].sort((a, b) => a - b);
  }

  async open(hour: UploadHour): Promise<OpenedHour> {
    const parts = this.byHour.get(hour);
    if (!parts) return { kind: 'empty' };
    const label = formatHour(hour);
    return {
      kind: 'archive',
      bytes: parts.bytes,
      entries: async function* (limits) {
        // One budget for the whole hour, across its zips and loose files.
        const hourTotal = { bytes: 0 };
        const origin = { hourLabel: label, rereadMayHelp: false };
        for (const [path, names] of parts.zips) yield* readArchiveEntries(path, origin, limits, (name) => names.has(name), hourTotal);
        yield* readPartFiles(parts.files, label, limits, hourTotal);
      },
      close: async () => {},
    };
  }
}
