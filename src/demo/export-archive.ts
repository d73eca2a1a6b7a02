import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import { amplitudeEntryName } from '../extract/entry-names.js';

export interface ArchiveFile {
  readonly name: string;
  /** Bytes as stored in the zip entry (gzip them first for a `.gz` entry). */
  readonly data: Buffer;
}

/** A zip archive, in memory, of the given entries, stored uncompressed as Amplitude's are. */
export async function buildZip(files: readonly ArchiveFile[], folders: readonly string[] = []): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const folder of folders) zip.addEmptyDirectory(folder);
  for (const file of files) zip.addBuffer(file.data, file.name, { compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An upload hour's archive as the Export API sends it: one gzipped NDJSON entry per part, in a project folder. */
export async function hourArchive(hourLabel: string, parts: readonly (string | Buffer)[], projectId = 187520): Promise<Buffer> {
  return buildZip(
    parts.map((part, i) => ({ name: amplitudeEntryName(projectId, hourLabel, i), data: gzipSync(part) })),
    [`${projectId}/`],
  );
}
