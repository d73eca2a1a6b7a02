import { rm } from 'node:fs/promises';
import type { UploadHour } from '../hour.js';
import { formatHour } from '../hour.js';
import { readArchiveEntries, type ArchiveItem, type DecompressionLimits } from './archive-entries.js';
import type { DownloadProgress, ExportClient } from './export-client.js';

/** One hour's data as a source holds it: nothing, or entries to read one at a time. */
export type OpenedHour =
  | { readonly kind: 'empty' }
  | {
      readonly kind: 'archive';
      /** Compressed bytes fetched or read for the hour. */
      readonly bytes: number;
      entries(limits: DecompressionLimits): AsyncIterable<ArchiveItem>;
      /** Frees what opening took (a temp file); called once the hour is done with, in every case. */
      close(): Promise<void>;
    };

/** Where hours come from: the Export API, or archives already on disk. */
export interface HourSource {
  /** `onBytes` hears of the bytes fetched so far, and how many are expected when that is known. */
  open(hour: UploadHour, signal: AbortSignal, onBytes?: DownloadProgress): Promise<OpenedHour>;
}

/** The Export API: each hour downloaded to a temp file, read from there, the file removed after. */
export class ExportApiSource implements HourSource {
  constructor(private readonly client: ExportClient) {}

  async open(hour: UploadHour, signal: AbortSignal, onBytes?: DownloadProgress): Promise<OpenedHour> {
    const download = await this.client.downloadHour(hour, signal, onBytes);
    if (download.kind === 'empty') return download;
    return {
      kind: 'archive',
      bytes: download.bytes,
      entries: (limits) => readArchiveEntries(download.path, { hourLabel: formatHour(hour), rereadMayHelp: !download.lengthVerified }, limits),
      close: () => rm(download.path, { force: true }),
    };
  }
}
