import { hourFromDate, type UploadHour } from '../hour.js';

/**
 * How Amplitude names the parts of an export: `<project>/<project>_<YYYY-MM-DD>_<hour>#<part>.json.gz`
 * inside a zip (the folder absent in the S3 export); the UTC date, the hour not zero-padded.
 */
const PART_NAME = /(?:^|\/)\d+_(\d{4})-(\d{2})-(\d{2})_(\d{1,2})#\d+\.json(?:\.gz)?$/;

/** The name Amplitude gives part `part` of an upload hour (`YYYYMMDDTHH`) of a project. */
export function amplitudeEntryName(projectId: number, hourLabel: string, part: number): string {
  const date = `${hourLabel.slice(0, 4)}-${hourLabel.slice(4, 6)}-${hourLabel.slice(6, 8)}`;
  return `${projectId}/${projectId}_${date}_${Number(hourLabel.slice(9, 11))}#${part}.json.gz`;
}

/** The upload hour a part's name says it holds, or undefined for any other name. */
export function hourOfPartName(name: string): UploadHour | undefined {
  const m = PART_NAME.exec(name);
  if (!m || Number(m[4]) > 23) return undefined;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4])));
  if (date.getUTCDate() !== Number(m[3])) return undefined;
  return hourFromDate(date);
}
