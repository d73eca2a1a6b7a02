import { gzipSync } from 'node:zlib';

export { buildZip, hourArchive, type ArchiveFile } from '../../src/demo/export-archive.js';
export { amplitudeEntryName } from '../../src/extract/entry-names.js';

export function gzipPart(text: string | Buffer): Buffer {
  return gzipSync(text);
}

/** NDJSON text of the given events, one per line, with a final newline. */
export function ndjson(events: readonly unknown[]): string {
  return events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n';
}
