import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { amplitudeEntryName, buildZip, gzipPart, ndjson } from '../helpers/archive.js';
import { runCli, runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

let folder: string;
const fixtures = useLoaderFixtures();
before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'amplitude-pg-entries-'));
});
after(async () => rm(folder, { recursive: true, force: true }));

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const event = (n: number, hour: string) =>
  makeEvent({ uuid: id(n), event_time: `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:10:00` });

function load(args: string[]) {
  return runLoad(fixtures.api.url, fixtures.db.url, args);
}

async function hourRecord(hour: string) {
  const at = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:00Z`;
  const { rows } = await fixtures.db.pool.query(
    `SELECT status, archive_entries, entries_skipped, events_read::int, rejected_lines::int, last_error FROM amplitude_loader.upload_hours WHERE upload_hour = $1`,
    [at],
  );
  return rows[0];
}

async function uuidsOfHour(hour: string): Promise<string[]> {
  const at = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:00Z`;
  const { rows } = await fixtures.db.pool.query(`SELECT uuid::text FROM amplitude.events WHERE upload_hour = $1 ORDER BY uuid`, [at]);
  return rows.map((r) => r.uuid);
}

/** Marks every entry of a zip encrypted, in its local header and in the central directory. */
function markEncrypted(zip: Buffer): Buffer {
  const marked = Buffer.from(zip);
  for (let at = 0; at + 4 <= marked.length; at++) {
    const signature = marked.readUInt32LE(at);
    if (signature === 0x04034b50) marked.writeUInt16LE(marked.readUInt16LE(at + 6) | 1, at + 6);
    if (signature === 0x02014b50) marked.writeUInt16LE(marked.readUInt16LE(at + 8) | 1, at + 8);
  }
  return marked;
}

test('entries of any case and .ndjson load; others are named in a notice, counted, and never lost unseen', async () => {
  const hour = '20240501T01';
  fixtures.api.archive(
    hour,
    await buildZip([
      { name: '187520/187520_2024-05-01_1#0.JSON.GZ', data: gzipPart(ndjson([event(1, hour)])) },
      { name: '187520/187520_2024-05-01_1#1.ndjson', data: Buffer.from(ndjson([event(2, hour)])) },
      { name: '187520/notes.csv', data: Buffer.from('a,b\n') },
      { name: '187520/nested.zip', data: await buildZip([{ name: 'x.json', data: Buffer.from(ndjson([event(3, hour)])) }]) },
    ]),
  );
  const result = await load(['--range', hour]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stderr, /20240501T01: skipped entry 187520\/notes\.csv: its name does not end in \.json\.gz, \.gz, \.json or \.ndjson/);
  assert.match(result.stderr, /20240501T01: skipped entry 187520\/nested\.zip/);
  assert.match(result.stderr, /"event":"hour".*"entries_skipped":2/);
  assert.match(result.stdout, /archive entries skipped: +2\n/);
  assert.deepEqual(await uuidsOfHour(hour), [id(1), id(2)]);
  assert.deepEqual(await hourRecord(hour), {
    status: 'loaded', archive_entries: 2, entries_skipped: 2, events_read: 2, rejected_lines: 0, last_error: null,
  });
});

test('an archive whose entries are all unreadable fails its hour, once, and is asked for again next run', async () => {
  const hour = '20240501T02';
  fixtures.api.archive(hour, await buildZip([{ name: 'export.csv', data: Buffer.from('uuid\n1\n') }]));
  const result = await load(['--range', hour, '--retries', '2']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /failed 20240501T02: hour 20240501T02: none of the archive's 1 entries is NDJSON \(.*\): export\.csv/);
  assert.equal(fixtures.api.requestsFor(hour).length, 1, 'the same archive would fail the same way');
  assert.equal((await hourRecord(hour)).status, 'failed');
});

test('two entries of one name both load, each line with its own place; a reject in each keeps them apart', async () => {
  const hour = '20240501T03';
  const name = amplitudeEntryName(187520, hour, 0);
  fixtures.api.archive(
    hour,
    await buildZip([
      { name, data: gzipPart(ndjson(['not json', event(4, hour)])) },
      { name, data: gzipPart(ndjson(['{"also": "not an event"}', event(5, hour)])) },
    ]),
  );
  const result = await load(['--range', hour]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(await uuidsOfHour(hour), [id(4), id(5)]);
  const { rows } = await fixtures.db.pool.query(
    `SELECT archive_entry, entry_name, line_number FROM amplitude_loader.rejects WHERE upload_hour = '2024-05-01 03:00Z' ORDER BY archive_entry`,
  );
  assert.deepEqual(rows, [
    { archive_entry: 1, entry_name: name, line_number: 1 },
    { archive_entry: 2, entry_name: name, line_number: 1 },
  ]);
});

test('an entry name of 8,000 characters labels its rows and rejects like any other', async () => {
  const hour = '20240501T04';
  const name = `187520/${'n'.repeat(8000)}_2024-05-01_4#0.json.gz`;
  fixtures.api.archive(hour, await buildZip([{ name, data: gzipPart(ndjson([event(6, hour), 'broken {'])) }]));
  const result = await load(['--range', hour]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(await uuidsOfHour(hour), [id(6)]);
  const { rows } = await fixtures.db.pool.query(`SELECT length(entry_name) AS n FROM amplitude_loader.rejects WHERE upload_hour = '2024-05-01 04:00Z'`);
  assert.deepEqual(rows, [{ n: name.length }]);
});

test('an encrypted entry is said to be encrypted, and not retried', async () => {
  const hour = '20240501T05';
  fixtures.api.archive(hour, markEncrypted(await buildZip([{ name: amplitudeEntryName(187520, hour, 0), data: gzipPart(ndjson([event(7, hour)])) }])));
  const result = await load(['--range', hour, '--retries', '2']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /entry 187520\/187520_2024-05-01_5#0\.json\.gz: the entry is encrypted \(a password-protected zip\)/);
  assert.equal(fixtures.api.requestsFor(hour).length, 1);
});

test('a corrupt archive whose length was vouched for is not downloaded again; a close-delimited one may be cut short, and is', async () => {
  const hour = '20240501T06';
  const good = await buildZip([{ name: amplitudeEntryName(187520, hour, 0), data: gzipPart(ndjson([event(8, hour)])) }]);
  const corrupt = Buffer.concat([good.subarray(0, good.length - 30), Buffer.alloc(30, 0x41)]);
  fixtures.api.archive(hour, corrupt);
  const checked = await load(['--range', hour, '--retries', '2']);
  assert.equal(checked.code, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /failed 20240501T06: hour 20240501T06: the archive cannot be read/);
  assert.equal(fixtures.api.requestsFor(hour).length, 1);

  fixtures.api.answer(hour, { status: 200, body: corrupt, closeDelimited: true }, { status: 200, body: good, closeDelimited: true });
  const unchecked = await load(['--range', hour, '--retries', '2']);
  assert.equal(unchecked.code, 0, unchecked.stdout + unchecked.stderr);
  assert.equal(fixtures.api.requestsFor(hour).length, 3);
  assert.deepEqual(await uuidsOfHour(hour), [id(8)]);
});

test('--from-file reads each file once: a zip given twice, and a folder linked into itself', async () => {
  const hour = '20240502T07';
  const s3 = join(folder, 'linked');
  await mkdir(s3, { recursive: true });
  await writeFile(join(s3, '187520_2024-05-02_7#0.json.gz'), gzipPart(ndjson([event(9, hour), event(10, hour)])));
  await symlink(s3, join(s3, 'loop'));
  const zip = join(folder, 'again.zip');
  await writeFile(zip, await buildZip([{ name: amplitudeEntryName(187520, '20240502T08', 0), data: gzipPart(ndjson([event(11, '20240502T08')])) }]));
  const started = Date.now();
  const result = await runCli(['load', '--from-file', s3, zip, zip], { DATABASE_URL: fixtures.db.url });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.ok(Date.now() - started < 30_000);
  assert.deepEqual(await uuidsOfHour(hour), [id(9), id(10)]);
  assert.deepEqual(await uuidsOfHour('20240502T08'), [id(11)]);
  assert.deepEqual(
    { ...(await hourRecord(hour)), last_error: undefined },
    { status: 'loaded', archive_entries: 1, entries_skipped: 0, events_read: 2, rejected_lines: 0, last_error: undefined },
  );
  assert.equal((await hourRecord('20240502T08')).archive_entries, 1);
});

test('entry names holding ESC, BEL, CR and LF are printed escaped: no forged line in the text log, the JSON log or status', async () => {
  const hour = '20240501T09';
  const forged = '\r\n20240501T10: 9999 events, 9999 rows, 0 + 0 dup (uuid, insert_id), 0 rejected, 1.0 MB, 0.1s\x1b[2K\x07\u009b31m\u202e';
  fixtures.api.archive(
    hour,
    await buildZip([
      { name: `187520/notes${forged}.csv`, data: Buffer.from('not an export') },
      { name: `187520/187520_2024-05-01_9#0${forged}.json.gz`, data: Buffer.from('not gzip at all') },
    ]),
  );
  for (const format of ['text', 'json']) {
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour, '--log-format', format, '--retries', '0', '--reload']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const output = result.stdout + result.stderr;
    assert.doesNotMatch(output, /[\x07\x1b\r\u009b\u202e]/, `${format}: no raw control character reaches the output`);
    assert.doesNotMatch(output, /^20240501T10/m, `${format}: no line is forged`);
    assert.match(output, format === 'text' ? /\\r\\n20240501T10: 9999 events.*\\x1b\[2K\\x07\\x9b31m\\u\{202e\}/ : /\\r\\n20240501T10: 9999 events.*\\u001b\[2K\\u0007\\u009b31m\\u202e/);
  }
  const status = await runCli(['status'], { DATABASE_URL: fixtures.db.url });
  assert.equal(status.code, 0, status.stderr);
  assert.doesNotMatch(status.stdout, /[\x07\x1b\r\u009b\u202e]/);
  assert.doesNotMatch(status.stdout, /^20240501T10/m);
  assert.match(status.stdout, /20240501T09 +after 2 attempt\(s\): hour 20240501T09, entry 187520\/187520_2024-05-01_9#0\\r\\n20240501T10/);
});
