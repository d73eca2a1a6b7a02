import { hourArchive } from './export-archive.js';
import { LocalExportApi } from './local-export-api.js';
import { sampleEvents } from './sample-events.js';

/** Any key and secret pass: the demo's Export API only stands in for Amplitude's. */
export const SAMPLE_API_KEY = 'demo-api-key';
export const SAMPLE_SECRET_KEY = 'demo-secret-key';

/** A local stand-in for the Export API serving the sample events: each hour as a zip of one gzipped NDJSON part. */
export async function sampleExportApi(): Promise<LocalExportApi> {
  const byHour = new Map<string, string[]>();
  for (const event of sampleEvents()) {
    const lines = byHour.get(event.uploadHour) ?? [];
    lines.push(event.line);
    byHour.set(event.uploadHour, lines);
  }
  const archives = new Map<string, Buffer>();
  for (const [hour, lines] of byHour) archives.set(hour, await hourArchive(hour, [`${lines.join('\n')}\n`]));
  return new LocalExportApi(archives).start();
}
