import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createRunLog, describeProgress } from '../../src/cli/run-log.js';
import { ProgressBoard } from '../../src/pipeline/hour-progress.js';
import { ExportHttpError } from '../../src/errors.js';
import { parseHourRange, type UploadHour } from '../../src/hour.js';
import type { HourOutcome } from '../../src/pipeline/load-hour.js';
import { emptySummary, type HourPlan } from '../../src/pipeline/load-range.js';
import type { HourCounters } from '../../src/counters.js';

function stream(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  let text = '';
  const s = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return Object.assign(s, { isTTY, text: () => text });
}

const hour = parseHourRange('20240301T05').first as UploadHour;
const loaded: HourOutcome = {
  hour,
  status: 'loaded',
  attempts: 1,
  seconds: 1.5,
  stages: { download: 0.1, copy: 1 },
  counters: {
    eventsRead: 100,
    rowsInserted: 98,
    duplicatesUuid: 1,
    duplicatesInsertId: 1,
    rowsSuperseded: 0,
    rowsRestored: 0,
    rejectedLines: 0,
    sanitizedValues: 2,
    bytesDownloaded: 5000,
    archiveEntries: 2,
    entriesSkipped: 0,
  },
  skipped: [],
};

/** A plan of `toLoad` hours from 20240301T05, with some done before and some too recent. */
function plan(toLoad: number, alreadyDone = 0, notYetAvailable = 0): HourPlan {
  return { hours: toLoad + alreadyDone + notYetAvailable, alreadyDone, notYetAvailable, toLoad: Array.from({ length: toLoad }, (_, i) => (hour + i) as UploadHour) };
}

test('off a terminal the log is JSON lines: one per hour, retry and failure, and the summary', () => {
  const out = stream(false);
  const log = createRunLog(undefined, out as unknown as NodeJS.WriteStream);
  log.planned(plan(2));
  log.hour(loaded);
  log.retry(hour, 1, 250, new ExportHttpError('20240301T06', 503, 'busy'));
  log.hour({ hour: (hour + 1) as UploadHour, status: 'failed', attempts: 6, seconds: 9, error: new ExportHttpError('20240301T06', 504, '') });
  log.hour({ hour: (hour + 2) as UploadHour, status: 'taken over', attempts: 1, seconds: 130 });
  log.summary({ ...emptySummary(), hoursLoaded: 1, hoursFailed: 1, counters: { ...(loaded as { counters: HourCounters }).counters } });
  const lines = out.text().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.event), ['planned', 'hour', 'retry', 'hour_failed', 'hour_taken_over', 'summary']);
  assert.equal(lines[1].hour, '20240301T05');
  assert.equal(lines[1].rows_inserted, 98);
  assert.equal(lines[1].sanitized_values, 2);
  assert.equal(lines[2].delay_ms, 250);
  assert.equal(lines[3].code, 'EXPORT_HTTP');
  assert.match(lines[3].error, /HTTP 504/);
  assert.equal(lines[4].hour, '20240301T07');
  assert.equal(lines[5].hours_failed, 1);
  assert.equal(lines[5].rows_inserted, 98);
  assert.equal(lines[5].level, 'error');
});

test('on a terminal the log is a progress bar with a line per finished hour', () => {
  const out = stream(true);
  const log = createRunLog(undefined, out as unknown as NodeJS.WriteStream);
  log.planned(plan(4));
  log.hour(loaded);
  log.close();
  const text = out.text();
  assert.match(text, /\[\.{30}\] 0\/4 hours/);
  assert.match(text, /20240301T05: 100 events, 98 rows, 1 \+ 1 dup \(uuid, insert_id\)/);
  assert.match(text, /\[#{8}\.{22}\] 1\/4 hours +\d+ events\/s +ETA \dm\d\ds/);
});

test('--log-format text off a terminal gives plain lines without a bar', () => {
  const out = stream(false);
  const log = createRunLog('text', out as unknown as NodeJS.WriteStream);
  log.planned(plan(4, 2, 1));
  log.hour(loaded);
  assert.equal(
    out.text(),
    'plan: 4 hour(s) to load (20240301T05..20240301T08); of the 7 asked for, 2 already loaded or empty, 1 not yet available\n' +
      '20240301T05: 100 events, 98 rows, 1 + 1 dup (uuid, insert_id), 0 rejected, 0.0 MB, 1.5s\n',
  );
});

test('a line per hour fits a 120-column terminal, even for an hour of millions of events', () => {
  const out = stream(false);
  const log = createRunLog('text', out as unknown as NodeJS.WriteStream);
  const huge = { eventsRead: 24_999_999, rowsInserted: 24_000_000, duplicatesUuid: 499_999, duplicatesInsertId: 499_999, rejectedLines: 1_000_000, bytesDownloaded: 3_999_999_999 };
  log.hour({ ...loaded, seconds: 12_345.6, counters: { ...(loaded as { counters: HourCounters }).counters, ...huge } });
  assert.ok(out.text().trimEnd().length < 120, out.text());
});

test('while an hour runs, the bar shows its download (bytes of the length, rate, ETA), then its lines; JSON logs a progress event per hour in flight', async () => {
  const board = new ProgressBoard();
  const progress = board.start(hour);
  progress.bytesDownloaded = 1_000_000;
  progress.bytesExpected = 4_000_000;
  const now = progress.startedAt + 2000;
  assert.equal(describeProgress(progress, now), '20240301T05 downloading 1.0/4.0 MB, 0.5 MB/s ETA 0m06s');
  progress.phase = 'loading';
  progress.downloadedAt = now;
  progress.counters = { eventsRead: 12_345 };
  progress.ndjsonBytes = 30_000_000;
  assert.equal(describeProgress(progress, now + 10_000), '20240301T05 loading: 12345 lines, 30.0 MB read, 3.0 MB/s');

  const out = stream(false);
  const log = createRunLog('json', out as unknown as NodeJS.WriteStream, 1);
  log.watch(board);
  await new Promise((resolve) => setTimeout(resolve, 1300));
  log.close();
  const events = out.text().trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(events.length >= 1);
  assert.deepEqual(
    { event: events[0].event, hour: events[0].hour, phase: events[0].phase, lines_read: events[0].lines_read, ndjson_bytes: events[0].ndjson_bytes, bytes_expected: events[0].bytes_expected },
    { event: 'progress', hour: '20240301T05', phase: 'loading', lines_read: 12_345, ndjson_bytes: 30_000_000, bytes_expected: 4_000_000 },
  );
  board.finish(hour);
});
