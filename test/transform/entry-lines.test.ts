import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LineCounters } from '../../src/counters.js';
import { encodeEntryLines, EVENTS_COPY_COLUMNS, REJECTS_COPY_COLUMNS } from '../../src/transform/entry-lines.js';
import { monthLabel } from '../../src/transform/utc-calendar.js';

const UUID = '6f1c2a4e-9b7d-4c1e-8a2b-3c4d5e6f7a8b';
const EVENT = `{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00"}`;

const HOUR = '2024-03-01T05:00:00.000Z';

function copyRows(text: string, columns: readonly string[]): string[][] {
  const rows = text === '' ? [] : text.replace(/\n$/, '').split('\n').map((r) => r.split('\t'));
  for (const row of rows) assert.equal(row.length, columns.length);
  return rows;
}

async function encode(
  chunks: (string | Buffer)[],
  maxLineBytes = 1 << 20,
): Promise<{ rows: string[][]; rejects: string[][]; months: Set<number>; counters: LineCounters }> {
  const counters: LineCounters = { eventsRead: 0, rejectedLines: 0, sanitizedValues: 0 };
  async function* source() {
    for (const chunk of chunks) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
  }
  let events = '';
  let rejects = '';
  const months = new Set<number>();
  const entry = { hourLabel: '20240301T05', project: 'web', uploadHour: HOUR, loadedAt: '2026-11-27 12:00:00.000001+00', entryName: 'p/p_2024-03-01_5#0.json.gz', entryNumber: 3, maxLineBytes };
  for await (const batch of encodeEntryLines(source(), entry, counters)) {
    events += batch.events.map(String).join('');
    rejects += batch.rejects;
    for (const month of batch.months) months.add(month);
  }
  return { rows: copyRows(events, EVENTS_COPY_COLUMNS), rejects: copyRows(rejects, REJECTS_COPY_COLUMNS), months, counters };
}

const at = (name: string) => EVENTS_COPY_COLUMNS.indexOf(name);
const rejectAt = (name: string) => REJECTS_COPY_COLUMNS.indexOf(name);

test('a part without a final newline still yields its last line', async () => {
  const { rows, counters } = await encode([`${EVENT}\n${EVENT}`]);
  assert.equal(rows.length, 2);
  assert.equal(counters.eventsRead, 2);
});

test('blank lines are skipped but counted in line numbers; CRLF is fine', async () => {
  const { rows } = await encode([`\n${EVENT}\r\n\n   \n${EVENT}\n`]);
  assert.deepEqual(
    rows.map((r) => r[at('archive_line')]),
    ['2', '5'],
  );
});

test('each row carries its project, upload hour, load time, entry position and line, and the batches name the UTC months of its events', async () => {
  const late = EVENT.replace('2024-03-01 05:00:00', '2024-02-29T23:30:00-01:00');
  const { rows, months } = await encode([`${EVENT}\n${late}\n`]);
  assert.deepEqual(
    rows.map((r) => [r[at('project')], r[at('upload_hour')], r[at('loaded_at')], r[at('archive_entry')], r[at('archive_line')]]),
    [
      ['web', HOUR, '2026-11-27 12:00:00.000001+00', '3', '1'],
      ['web', HOUR, '2026-11-27 12:00:00.000001+00', '3', '2'],
    ],
  );
  assert.deepEqual([...months].map(monthLabel), ['2024-03']);
});

test('lines split across chunks, even inside a multi-byte character, join up', async () => {
  const bytes = Buffer.from(`${EVENT.replace('}', ',"city":"Zürich 😀"}')}\n${EVENT}\n`);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
  const { rows, counters } = await encode(chunks);
  assert.equal(rows.length, 2);
  assert.equal(counters.sanitizedValues, 0);
  assert.equal(rows[0]?.[at('city')], 'Zürich 😀');
});

test('a byte order mark before any line (files joined with cat) is not part of the event', async () => {
  const { rows, counters } = await encode([`\uFEFF${EVENT}\n${EVENT}\n\uFEFF${EVENT}\n`]);
  assert.equal(counters.rejectedLines, 0);
  assert.deepEqual(rows.map((r) => r[at('archive_line')]), ['1', '2', '3']);
});

test('a rejected line keeps its hour, entry, line number, reason and text', async () => {
  const { rows, rejects, counters } = await encode([`${EVENT}\nnot json\t\\\n`]);
  assert.equal(counters.rejectedLines, 1);
  assert.equal(rows.length, 1);
  const reject = rejects[0] as string[];
  assert.equal(reject[rejectAt('project')], 'web');
  assert.equal(reject[rejectAt('upload_hour')], HOUR);
  assert.equal(reject[rejectAt('archive_entry')], '3');
  assert.equal(reject[rejectAt('entry_name')], 'p/p_2024-03-01_5#0.json.gz');
  assert.equal(reject[rejectAt('line_number')], '2');
  assert.equal(reject[rejectAt('reason')], 'not a JSON object');
  assert.equal(reject[rejectAt('raw_line')], 'not json\\t\\\\');
});

test('invalid UTF-8 becomes U+FFFD and is counted', async () => {
  const line = Buffer.concat([Buffer.from(`{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00","city":"a`), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
  const { rows, counters } = await encode([Buffer.from(`${EVENT}\n`), line]);
  assert.equal(rows.length, 2);
  assert.equal(counters.sanitizedValues, 1);
  assert.equal(rows[1]?.[at('city')], 'a\uFFFD(');
});

test('a line longer than the limit fails with the hour, entry and line, whether it spans chunks or not', async () => {
  const long = `{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00","pad":"${'x'.repeat(500)}"}`;
  await assert.rejects(encode([`${EVENT}\n${long}\n`], 300), /hour 20240301T05, entry p\/p_2024-03-01_5#0\.json\.gz, line 2: a line exceeds --max-line-bytes \(300 bytes\)/);
  const pieces = [`${EVENT}\n`, ...long.match(/.{1,100}/g)!];
  await assert.rejects(encode(pieces, 300), /line 2: a line exceeds --max-line-bytes/);
  const { rows } = await encode([`${EVENT}\n${long}\n`], long.length);
  assert.equal(rows.length, 2);
});
