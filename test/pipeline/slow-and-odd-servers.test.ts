import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ExportClient } from '../../src/extract/export-client.js';
import { parseHourRange } from '../../src/hour.js';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { loaderEnv, runCli, runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

let tempDir: string;
const fixtures = useLoaderFixtures();
before(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'amplitude-pg-servers-'));
});
after(async () => rm(tempDir, { recursive: true, force: true }));

async function archiveOf(hour: string, count = 50): Promise<Buffer> {
  const at = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:30:00`;
  return hourArchive(hour, [ndjson(Array.from({ length: count }, () => makeEvent({ event_time: at })))]);
}

function load(args: string[]) {
  return runLoad(fixtures.api.url, fixtures.db.url, ['--temp-dir', tempDir, ...args]);
}

test('a download that outlasts --download-timeout is retried, then fails its hour saying so', async () => {
  const hour = '20240601T01';
  fixtures.api.answer(hour, { status: 200, body: await archiveOf(hour), pieces: 20, pieceDelayMs: 200 });
  const started = Date.now();
  const result = await load(['--range', hour, '--download-timeout', '1', '--retries', '1']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /failed 20240601T01: hour 20240601T01: the download did not finish within --download-timeout 1 s \(\d+ bytes arrived\)/);
  assert.match(result.stderr, /"event":"retry","hour":"20240601T01".*"code":"DOWNLOAD"/);
  assert.equal(fixtures.api.requestsFor(hour).length, 2);
  assert.ok(Date.now() - started < 15_000, 'each attempt ended at its deadline');
  assert.deepEqual(await readdir(tempDir), [], 'no archive is left behind');
});

test('a body slower than the minimum rate over a window ends the attempt, naming the rate', async () => {
  const hour = '20240601T02';
  // About 1 KB every 200 ms: a trickle.
  const zip = await archiveOf(hour, 200);
  fixtures.api.answer(hour, { status: 200, body: zip, pieces: Math.ceil(zip.length / 1024), pieceDelayMs: 200 });
  const client = new ExportClient({
    exportUrl: fixtures.api.url,
    apiKey: 'test-api-key',
    secretKey: 'test-secret-key',
    tempDir,
    maxArchiveBytes: 1 << 30,
    downloadTimeoutSeconds: 60,
    minDownloadBytesPerSecond: 20_000,
    rateWindowSeconds: 1,
  });
  try {
    const started = Date.now();
    await assert.rejects(client.downloadHour(parseHourRange(hour).first, new AbortController().signal), (error: Error & { code?: string; retryable?: boolean }) => {
      assert.equal(error.code, 'DOWNLOAD');
      assert.equal(error.retryable, true);
      assert.match(error.message, /^hour 20240601T02: the download is slower than --min-download-rate 20000 bytes\/s: \d+ bytes in the last 1 s \(\d+ in all\)$/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000);
  } finally {
    await client.close();
  }
});

test('a redirect is not followed and not retried; the message says where it pointed, without its credentials', async () => {
  const hour = '20240601T03';
  fixtures.api.answer(hour, { status: 302, body: 'moved', headers: { location: 'https://user:pa55word@export.example.com/api/2/export?token=abc' } });
  const result = await load(['--range', hour, '--retries', '2']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    /failed 20240601T03: the Export API answered HTTP 302 \(a redirect to https:\/\/export\.example\.com\/api\/2\/export, which the loader does not follow: the credentials go only to AMPLITUDE_EXPORT_URL/,
  );
  assert.doesNotMatch(result.stdout + result.stderr, /pa55word|token=abc|server error/);
  assert.equal(fixtures.api.requestsFor(hour).length, 1);
});

test('an http:// export URL beyond this machine is warned about: the credentials would cross the network in clear', async () => {
  // A range in the future: the warning comes before any request, and none is sent.
  const result = await runCli(['load', '--range', '20990101T00'], {
    ...loaderEnv('http://export.example.com/api/2/export', fixtures.db.url),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /AMPLITUDE_EXPORT_URL is http:\/\/export\.example\.com: the API key and secret cross the network unencrypted; use https/);
  const local = await load(['--range', '20990101T00']);
  assert.doesNotMatch(local.stderr, /unencrypted/, 'a server on this machine is not warned about');
});

test('when the first hour cannot reach the Export API at all, the run stops with one message instead of trying every hour', async () => {
  const started = Date.now();
  const result = await runCli(
    ['load', '--range', '20240601T00..20240601T23', '--concurrency', '1', '--retries', '1', '--retry-delay-ms', '10'],
    loaderEnv('http://127.0.0.1:1/api/2/export', fixtures.db.url),
  );
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /hours failed: +1\n/);
  assert.match(result.stdout, /interrupted: 23\)/);
  assert.match(result.stdout, /stopped: no hour could reach the Export API, so the run stops: .*ECONNREFUSED.*check the network, DNS, AMPLITUDE_REGION and AMPLITUDE_EXPORT_URL/);
  assert.ok(Date.now() - started < 20_000);
});
