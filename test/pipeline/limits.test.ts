import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { amplitudeEntryName, buildZip, gzipPart, hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

const fixtures = useLoaderFixtures();

async function hourOf(label: string, events = 5) {
  const time = `${label.slice(0, 4)}-${label.slice(4, 6)}-${label.slice(6, 8)} ${label.slice(9)}:15:00`;
  return hourArchive(label, [ndjson(Array.from({ length: events }, () => makeEvent({ event_time: time })))]);
}

async function status(hour: string): Promise<{ status: string; last_error: string } | undefined> {
  const at = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:00Z`;
  const { rows } = await fixtures.db.pool.query(`SELECT status, last_error FROM amplitude_loader.upload_hours WHERE upload_hour = $1`, [at]);
  return rows[0];
}

test('an archive over --max-archive-bytes fails its hour only, without retrying', async () => {
  fixtures.api.archive('20241001T00', await hourOf('20241001T00', 400));
  fixtures.api.archive('20241001T01', await hourOf('20241001T01', 1));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T00..20241001T01', '--max-archive-bytes', '4000']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(fixtures.api.requestsFor('20241001T00').length, 1);
  assert.match((await status('20241001T00'))?.last_error ?? '', /hour 20241001T00: the archive \(\d+ bytes announced\) exceeds --max-archive-bytes \(4000 bytes\)/);
  assert.equal((await status('20241001T01'))?.status, 'loaded', result.stdout + result.stderr);
});

test('a zip bomb stops at --max-entry-bytes and --max-hour-bytes, naming the hour and the entry', async () => {
  // 50 MB of blank lines in a 50 KB gzip part.
  const bomb = gzipSync(Buffer.alloc(50_000_000, 0x0a));
  const zip = await buildZip([
    { name: amplitudeEntryName(1, '20241001T02', 0), data: gzipPart(ndjson([makeEvent({ event_time: '2024-10-01 02:00:00' })])) },
    { name: amplitudeEntryName(1, '20241001T02', 1), data: bomb },
  ]);
  fixtures.api.archive('20241001T02', zip);
  const entry = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T02', '--max-entry-bytes', '1000000']);
  assert.equal(entry.code, 1);
  assert.match((await status('20241001T02'))?.last_error ?? '', /hour 20241001T02, entry 1\/1_2024-10-01_2#1\.json\.gz: the decompressed entry exceeds --max-entry-bytes \(1000000 bytes\)/);
  const hour = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T02', '--max-hour-bytes', '2000000']);
  assert.equal(hour.code, 1);
  assert.match((await status('20241001T02'))?.last_error ?? '', /entry 1\/1_2024-10-01_2#1\.json\.gz: the hour's decompressed entries exceed|exceeds --max-hour-bytes \(2000000 bytes\)/);
  const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM amplitude.events WHERE upload_hour = '2024-10-01 02:00Z'`);
  assert.equal(rows[0].n, 0);
});

test('a line over --max-line-bytes fails the hour naming entry and line', async () => {
  const long = makeEvent({ event_time: '2024-10-01 03:00:00', event_properties: { pad: 'x'.repeat(5000) } });
  fixtures.api.archive('20241001T03', await hourArchive('20241001T03', [ndjson([makeEvent({ event_time: '2024-10-01 03:00:00' }), long])]));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T03', '--max-line-bytes', '4096']);
  assert.equal(result.code, 1);
  assert.match((await status('20241001T03'))?.last_error ?? '', /hour 20241001T03, entry 187520\/187520_2024-10-01_3#0\.json\.gz, line 2: a line exceeds --max-line-bytes \(4096 bytes\)/);
});

test('entry names are labels, never paths: "../" in a name loads like any other entry', async () => {
  const placeholder = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.json.gz';
  const evil = '../../../../../../../../../../tmp/escaped.json.gz';
  assert.equal(evil.length, placeholder.length);
  const zip = await buildZip([{ name: placeholder, data: gzipPart(ndjson([makeEvent({ uuid: '99999999-9999-4999-8999-999999999999', event_time: '2024-10-01 04:00:00' })])) }]);
  const patched = Buffer.from(zip.toString('latin1').replaceAll(placeholder, evil), 'latin1');
  fixtures.api.archive('20241001T04', patched);
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T04']);
  assert.equal(result.code, 0, result.stderr);
  const { rows } = await fixtures.db.pool.query(
    `SELECT h.entry_names[e.archive_entry] AS entry_name FROM amplitude.events e JOIN amplitude_loader.upload_hours h USING (upload_hour)
      WHERE e.uuid = '99999999-9999-4999-8999-999999999999'`,
  );
  assert.deepEqual(rows, [{ entry_name: evil }]);
  assert.equal(existsSync('/tmp/escaped.json.gz'), false);
});

test('a full temp folder fails the hour cleanly and leaves no file', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'amplitude-pg-full-'));
  try {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', folder], { stdio: 'ignore' });
    } catch {
      t.skip('mounting a small tmpfs needs root; this machine refused it');
      return;
    }
    try {
      fixtures.api.archive('20241001T05', await hourOf('20241001T05', 2000));
      const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20241001T05', '--retries', '1', '--temp-dir', folder]);
      assert.equal(result.code, 1);
      assert.match((await status('20241001T05'))?.last_error ?? '', /the temp folder .* is full/);
      assert.deepEqual(await readdir(folder), []);
    } finally {
      execFileSync('umount', [folder]);
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});
