import { gzipSync } from 'node:zlib';
import yazl from 'yazl';

export interface ArchiveFile {
  readonly name: string;
  /** Bytes as stored in the zip entry: gzip them yourself, or use `gzipPart`. */
  readonly data: Buffer;
}

/** Builds a zip archive in memory from the given entries (stored, as Amplitude's are). */
export async function buildZip(files: readonly ArchiveFile[], folders: readonly string[] = []): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const folder of folders) zip.addEmptyDirectory(folder);
  for (const file of files) zip.addBuffer(file.data, file.name, { compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Amplitude's entry name: `<project>/<project>_<YYYY-MM-DD>_<hour, not zero-padded>#<part>.json.gz`. */
export function amplitudeEntryName(projectId: number, hourLabel: string, part: number): string {
  const date = `${hourLabel.slice(0, 4)}-${hourLabel.slice(4, 6)}-${hourLabel.slice(6, 8)}`;
  return `${projectId}/${projectId}_${date}_${Number(hourLabel.slice(9, 11))}#${part}.json.gz`;
}

export function gzipPart(text: string | Buffer): Buffer {
  return gzipSync(text);
}

/** An hour's archive in Amplitude's layout: one gzipped NDJSON entry per part, inside a project folder. */
export async function hourArchive(hourLabel: string, parts: readonly (string | Buffer)[], projectId = 187520): Promise<Buffer> {
  return buildZip(
    parts.map((part, i) => ({ name: amplitudeEntryName(projectId, hourLabel, i), data: gzipPart(part) })),
    [`${projectId}/`],
  );
}

/** NDJSON text of the given events, one per line, with a final newline. */
export function ndjson(events: readonly unknown[]): string {
  return events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n';
}
