import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { amplitudeEntryName, buildZip, gzipPart, ndjson } from '../helpers/archive.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { makeEvent } from '../helpers/events.js';

let db: TestDatabase;
let folder: string;
before(async () => {
  db = await createTestDatabase();
  folder = await mkdtemp(join(tmpdir(), 'amplitude-pg-files-'));
});
after(async () => {
  await db.drop();
  await rm(folder, { recursive: true, force: true });
});

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const event = (n: number, at: string) => makeEvent({ uuid: id(n), event_time: at, server_upload_time: at });

/** Loads with no Amplitude credentials at all: files need none. */
function load(args: string[]) {
  return runCli(['load', ...args], { DATABASE_URL: db.url });
}

async function hoursLoaded(): Promise<string[]> {
  const { rows } = await db.pool.query(`SELECT to_char(upload_hour, 'YYYYMMDD"T"HH24') AS h, status FROM amplitude_loader.upload_hours ORDER BY 1`);
  return rows.map((r) => `${r.h} ${r.status}`);
}

test('an export zip holding several hours loads each hour on its own, with the same dedup', async () => {
  const zip = await buildZip([
    { name: amplitudeEntryName(187520, '20240301T05', 0), data: gzipPart(ndjson([event(1, '2024-03-01 05:10:00'), event(2, '2024-03-01 05:20:00')])) },
    { name: amplitudeEntryName(187520, '20240301T05', 1), data: gzipPart(ndjson([event(3, '2024-03-01 05:30:00')])) },
    { name: amplitudeEntryName(187520, '20240301T06', 0), data: gzipPart(ndjson([event(4, '2024-03-01 06:10:00'), event(1, '2024-03-01 05:10:00')])) },
  ]);
  await writeFile(join(folder, 'export.zip'), zip);
  const result = await load(['--from-file', join(folder, 'export.zip')]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await hoursLoaded(), ['20240301T05 loaded', '20240301T06 loaded']);
  const { rows } = await db.pool.query(`SELECT uuid::text FROM amplitude.events ORDER BY uuid`);
  assert.deepEqual(rows.map((r) => r.uuid), [id(1), id(2), id(3), id(4)]);
  const { rows: dropped } = await db.pool.query(`SELECT to_char(upload_hour, 'HH24') AS hour, uuid::text, rule FROM amplitude_loader.duplicates`);
  assert.deepEqual(dropped, [{ hour: '06', uuid: id(1), rule: 'uuid' }]);
});

test('a folder in the S3 layout loads, nested folders included, other files passed over with a notice', async () => {
  const s3 = join(folder, 's3');
  await mkdir(join(s3, 'nested'), { recursive: true });
  await writeFile(join(s3, '187520_2024-03-02_0#0.json.gz'), gzipPart(ndjson([event(10, '2024-03-02 00:10:00')])));
  await writeFile(join(s3, '187520_2024-03-02_0#1.json.gz'), gzipPart(ndjson([event(11, '2024-03-02 00:20:00')])));
  await writeFile(join(s3, 'nested', '187520_2024-03-02_13#0.json.gz'), gzipPart(ndjson([event(12, '2024-03-02 13:10:00')])));
  await writeFile(join(s3, 'notes.json.gz'), gzipPart('{}'));
  await writeFile(join(s3, 'README.txt'), 'not an export');
  const result = await load(['--from-file', s3, '--log-format', 'text']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /skipped .*notes\.json\.gz: its name carries no upload hour/);
  assert.match(result.stdout, /hours loaded: +2\n/);
  const loaded = await hoursLoaded();
  assert.ok(loaded.includes('20240302T00 loaded') && loaded.includes('20240302T13 loaded'));
  assert.ok(!loaded.some((h) => h.startsWith('20240302T01')), 'hours without files are not recorded');
  const { rows } = await db.pool.query(`SELECT archive_entries, events_read::int FROM amplitude_loader.upload_hours WHERE upload_hour = '2024-03-02 00:00Z'`);
  assert.deepEqual(rows, [{ archive_entries: 2, events_read: 2 }]);
});

test('loaded hours are skipped, --reload replaces them, --range picks hours, and paths may follow --from-file', async () => {
  const again = await load(['--from-file', join(folder, 'export.zip'), join(folder, 's3')]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already loaded or empty: 4/);
  const picked = await load(['--from-file', join(folder, 's3'), '--range', '20240302T13', '--reload']);
  assert.equal(picked.code, 0, picked.stderr);
  assert.match(picked.stdout, /hours loaded: +1\n/);
  const missing = await load(['--from-file', join(folder, 'nowhere')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nowhere does not exist/);
});
