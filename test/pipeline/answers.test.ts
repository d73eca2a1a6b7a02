import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { amplitudeEntryName, buildZip, gzipPart, hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

let tempDir: string;
const fixtures = useLoaderFixtures(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'amplitude-pg-answers-'));
});
after(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

function load(args: string[], env: Record<string, string> = {}) {
  return runLoad(fixtures.api.url, fixtures.db.url, ['--temp-dir', tempDir, ...args], env);
}

async function archiveOf(hour: string, count = 3): Promise<Buffer> {
  const events = Array.from({ length: count }, () => makeEvent({ event_time: `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:30:00` }));
  return hourArchive(hour, [ndjson(events)]);
}

async function hourState(hour: string): Promise<{ status: string; attempts: number; last_error: string | null } | undefined> {
  const at = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:00Z`;
  const { rows } = await fixtures.db.pool.query(`SELECT status, attempts, last_error FROM amplitude_loader.upload_hours WHERE upload_hour = $1`, [at]);
  return rows[0];
}

async function rowsOfHour(hour: string): Promise<number> {
  const at = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:00Z`;
  const { rows } = await fixtures.db.pool.query(
    `SELECT count(*)::int AS n FROM amplitude.events WHERE event_time >= $1::timestamptz AND event_time < $1::timestamptz + interval '1 hour'`,
    [at],
  );
  return rows[0].n;
}

async function assertNoTempFiles() {
  assert.deepEqual(await readdir(tempDir), []);
}

test('404 records the hour as empty and the run succeeds', async () => {
  const result = await load(['--range', '20240401T00']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /hours empty: +1/);
  assert.equal((await hourState('20240401T00'))?.status, 'empty');
  await assertNoTempFiles();
});

test('403 stops the run at once with exit 2, and the secret appears nowhere', async () => {
  const before = fixtures.api.requests.length;
  const result = await load(['--range', '20240401T01..20240401T05', '--concurrency', '1'], { AMPLITUDE_SECRET_KEY: 'wrong-secret-4f9a' });
  assert.equal(result.code, 2);
  assert.match(result.stdout + result.stderr, /refused the credentials \(HTTP 403\)/);
  assert.equal(fixtures.api.requests.length - before, 1);
  assert.doesNotMatch(result.stdout + result.stderr, /wrong-secret-4f9a/);
  assert.equal(await hourState('20240401T01'), undefined);
  await assertNoTempFiles();
});

test('400 fails only that hour, without retrying, and names the S3 export', async () => {
  const hour = '20240401T06';
  fixtures.api.answer(hour, { status: 400, body: 'too large' });
  fixtures.api.archive('20240401T07', await archiveOf('20240401T07'));
  const result = await load(['--range', '20240401T06..20240401T07']);
  assert.equal(result.code, 1);
  assert.equal(fixtures.api.requestsFor(hour).length, 1);
  const state = await hourState(hour);
  assert.equal(state?.status, 'failed');
  assert.match(state?.last_error ?? '', /4 GB.*S3 export/);
  assert.match(result.stdout, /failed 20240401T06: .*S3/);
  assert.equal(await rowsOfHour('20240401T07'), 3);
  assert.equal((await hourState('20240401T07'))?.status, 'loaded');
});

test('429 waits for Retry-After, then loads', async () => {
  const hour = '20240401T08';
  fixtures.api.answer(hour, { status: 429, body: 'slow down', headers: { 'retry-after': '1' } }, { status: 200, body: await archiveOf(hour) });
  const result = await load(['--range', hour]);
  assert.equal(result.code, 0, result.stderr);
  const [first, second] = fixtures.api.requestsFor(hour);
  assert.ok(first && second, 'two requests');
  assert.ok(second.at - first.at >= 950, `waited ${second.at - first.at} ms`);
  assert.match(result.stderr, /HTTP 429/);
  assert.equal(await rowsOfHour(hour), 3);
});

test('500 and 504 are retried; an hour that keeps failing fails with its last error after --retries', async () => {
  const recovering = '20240401T09';
  fixtures.api.answer(recovering, { status: 500, body: 'oops' }, { status: 504, body: 'timeout' }, { status: 200, body: await archiveOf(recovering) });
  const failing = '20240401T10';
  fixtures.api.answer(failing, { status: 504, body: '<html>Gateway Timeout</html>' });
  const result = await load(['--range', '20240401T09..20240401T10', '--retries', '2']);
  assert.equal(result.code, 1);
  assert.equal(fixtures.api.requestsFor(recovering).length, 3);
  assert.equal(await rowsOfHour(recovering), 3);
  assert.equal(fixtures.api.requestsFor(failing).length, 3);
  const state = await hourState(failing);
  assert.equal(state?.status, 'failed');
  assert.equal(state?.attempts, 3);
  assert.match(state?.last_error ?? '', /HTTP 504/);
  await assertNoTempFiles();
});

test('a truncated body and a 200 that is not a zip are retried', async () => {
  const truncated = '20240401T11';
  const zip = await archiveOf(truncated);
  fixtures.api.answer(truncated, { status: 200, body: zip, truncateAt: 100 }, { status: 200, body: zip });
  const notZip = '20240401T12';
  fixtures.api.answer(notZip, { status: 200, body: '<html>rate limit exceeded</html>' }, { status: 200, body: await archiveOf(notZip) });
  const result = await load(['--range', '20240401T11..20240401T12']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(fixtures.api.requestsFor(truncated).length, 2);
  assert.equal(fixtures.api.requestsFor(notZip).length, 2);
  const retries = result.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line)).filter((entry) => entry.event === 'retry');
  assert.ok(retries.some((r) => r.hour === notZip && r.code === 'DOWNLOAD' && r.error.includes('not a zip archive; it begins "<html>rate limit exceeded</html>"')));
  assert.ok(retries.some((r) => r.hour === truncated && r.code === 'DOWNLOAD'));
  assert.equal(await rowsOfHour(truncated), 3);
  assert.equal(await rowsOfHour(notZip), 3);
  await assertNoTempFiles();
});

test('a chunked answer without Content-Length loads; one cut short is retried', async () => {
  const hour = '20240401T16';
  const zip = await archiveOf(hour);
  fixtures.api.answer(hour, { status: 200, body: zip, chunked: true, truncateAt: 200 }, { status: 200, body: zip, chunked: true, pieces: 4, pieceDelayMs: 10 });
  const result = await load(['--range', hour]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(fixtures.api.requestsFor(hour).length, 2);
  assert.equal(await rowsOfHour(hour), 3);
  await assertNoTempFiles();
});

test('a corrupt gzip part fails the whole hour, not retried (its length was checked): no row of it stays, the other hours do', async () => {
  const hour = '20240401T13';
  const good = gzipPart(ndjson(Array.from({ length: 50 }, () => makeEvent({ event_time: '2024-04-01 13:30:00' }))));
  const corrupt = Buffer.from(gzipPart(ndjson(Array.from({ length: 50 }, () => makeEvent({ event_time: '2024-04-01 13:30:00' })))));
  corrupt.fill(0x41, 20, 60);
  fixtures.api.archive(
    hour,
    await buildZip([
      { name: amplitudeEntryName(1, hour, 0), data: good },
      { name: amplitudeEntryName(1, hour, 1), data: corrupt },
    ]),
  );
  fixtures.api.archive('20240401T14', await archiveOf('20240401T14'));
  const result = await load(['--range', '20240401T13..20240401T14', '--retries', '1']);
  assert.equal(result.code, 1);
  assert.equal(fixtures.api.requestsFor(hour).length, 1, 'the same archive would be corrupt again');
  assert.equal(await rowsOfHour(hour), 0);
  const state = await hourState(hour);
  assert.equal(state?.status, 'failed');
  assert.match(state?.last_error ?? '', /entry 1\/1_2024-04-01_13#1\.json\.gz.*corrupt/);
  assert.equal(await rowsOfHour('20240401T14'), 3);
  await assertNoTempFiles();
});

test('a failed hour is retried by the next run, and loaded hours are not requested again', async () => {
  const hour = '20240401T15';
  fixtures.api.answer(hour, { status: 500, body: 'down' });
  const first = await load(['--range', hour, '--retries', '0']);
  assert.equal(first.code, 1);
  fixtures.api.archive(hour, await archiveOf(hour));
  const second = await load(['--range', hour]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal((await hourState(hour))?.status, 'loaded');
  const requests = fixtures.api.requestsFor(hour).length;
  const third = await load(['--range', '20240401T15']);
  assert.equal(third.code, 0);
  assert.match(third.stdout, /already loaded or empty: 1/);
  assert.equal(fixtures.api.requestsFor(hour).length, requests);
});

test('hours that ended less than two hours ago are neither requested nor recorded', async () => {
  const now = new Date();
  const label = (d: Date) => d.toISOString().slice(0, 13).replace(/[-]/g, '').replace(/(\d{8})T?(\d{2})/, '$1T$2');
  const current = label(now);
  const before = fixtures.api.requests.length;
  const result = await load(['--range', current]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /not yet available: 1/);
  assert.equal(fixtures.api.requests.length, before);
  assert.equal(await hourState(current), undefined);
});

test('a 200 whose body ends when the server closes the connection (no length, no chunks) loads', async () => {
  // Incompressible and well over 64 KB: the download outlasts the body stream's buffer.
  const events = Array.from({ length: 400 }, () => makeEvent({ event_time: '2024-04-03 05:30:00', event_properties: { noise: randomBytes(300).toString('base64') } }));
  const zip = await hourArchive('20240403T05', [ndjson(events)]);
  assert.ok(zip.length > 100_000);
  fixtures.api.answer('20240403T05', { status: 200, body: zip, closeDelimited: true });
  const result = await load(['--range', '20240403T05']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /hours loaded: +1\n/);
  assert.equal(await rowsOfHour('20240403T05'), 400);
  await assertNoTempFiles();
});

test('archives are downloaded into a folder only this user may enter, as files only it may read', async () => {
  fixtures.api.answer('20240403T06', { status: 200, body: await archiveOf('20240403T06', 200), pieces: 10, pieceDelayMs: 100 });
  const run = load(['--range', '20240403T06']);
  let seen: { folder: number; file: number } | undefined;
  for (let i = 0; i < 200 && seen === undefined; i++) {
    for (const folder of await readdir(tempDir)) {
      const files = await readdir(join(tempDir, folder)).catch(() => []);
      if (files.length > 0) seen = { folder: (await stat(join(tempDir, folder))).mode & 0o777, file: (await stat(join(tempDir, folder, files[0] as string))).mode & 0o777 };
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const result = await run;
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(seen, { folder: 0o700, file: 0o600 });
  await assertNoTempFiles();
});
