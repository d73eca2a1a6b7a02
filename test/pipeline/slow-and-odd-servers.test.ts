import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
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
    headersTimeoutSeconds: 60,
    rateWindowSeconds: 1,
  });
  try {
    const started = Date.now();
    await assert.rejects(client.downloadHour(parseHourRange(hour).first, new AbortController().signal), (error: Error & { code?: string; retryable?: boolean }) => {
      assert.equal(error.code, 'DOWNLOAD');
      assert.equal(error.retryable, true);
      assert.match(error.message, /^hour 20240601T02: the download is slower than --min-download-rate 20000 bytes\/s: \d+ bytes in the last 1 s \(\d+ in all, headers included\)$/);
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
  assert.match(result.stdout, /stopped: no hour could reach the Export API, so the hours left are not tried: .*ECONNREFUSED.*check the network, DNS, AMPLITUDE_REGION and AMPLITUDE_EXPORT_URL/);
  assert.ok(Date.now() - started < 20_000);
});

/** A server on loopback that accepts connections and then does what `serve` says with each socket. */
async function rawServer(serve: (socket: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    serve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/2/export`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('a server that accepts the connection and never answers holds an hour only until --headers-timeout', async () => {
  const silent = await rawServer(() => {});
  try {
    const started = Date.now();
    const result = await runCli(
      ['load', '--range', '20240601T04', '--headers-timeout', '2', '--retries', '0', '--temp-dir', tempDir],
      loaderEnv(silent.url, fixtures.db.url),
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /failed 20240601T04: hour 20240601T04: the Export API's answer did not begin within --headers-timeout 2 s \(0 bytes arrived\)/);
    assert.ok(Date.now() - started < 20_000, 'bounded by the flag, not by a 15-minute default');
  } finally {
    await silent.close();
  }
});

test('headers sent a byte a second are bounded too: by --headers-timeout, and by the minimum rate, which counts header bytes', async () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: 100000\r\nX-Padding: ' + 'x'.repeat(200) + '\r\n\r\n';
  const trickle = await rawServer((socket) => {
    let at = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || at >= head.length) return clearInterval(timer);
      socket.write(head[at++] as string);
    }, 100);
    socket.on('close', () => clearInterval(timer));
  });
  try {
    const started = Date.now();
    const result = await runCli(
      ['load', '--range', '20240601T05', '--headers-timeout', '2', '--retries', '0', '--temp-dir', tempDir],
      loaderEnv(trickle.url, fixtures.db.url),
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /failed 20240601T05: hour 20240601T05: the Export API's answer did not begin within --headers-timeout 2 s \(\d+ bytes arrived\)/);
    assert.ok(Date.now() - started < 20_000);

    const client = new ExportClient({
      exportUrl: trickle.url,
      apiKey: 'test-api-key',
      secretKey: 'test-secret-key',
      tempDir,
      maxArchiveBytes: 1 << 30,
      downloadTimeoutSeconds: 60,
      minDownloadBytesPerSecond: 1000,
      headersTimeoutSeconds: 60,
      rateWindowSeconds: 1,
    });
    try {
      await assert.rejects(client.downloadHour(parseHourRange('20240601T05').first, new AbortController().signal), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'DOWNLOAD');
        assert.match(error.message, /slower than --min-download-rate 1000 bytes\/s: \d+ bytes in the last 1 s \(\d+ in all, headers included\)$/);
        return true;
      });
    } finally {
      await client.close();
    }
  } finally {
    await trickle.close();
  }
});

test('a zip sent with Content-Encoding gzip or br loads; an encoding the loader cannot undo fails the hour once, naming it', async () => {
  const gzipped = '20240601T06';
  fixtures.api.answer(gzipped, { status: 200, body: gzipSync(await archiveOf(gzipped, 30)), headers: { 'content-encoding': 'gzip' } });
  const brotli = '20240601T07';
  fixtures.api.answer(brotli, { status: 200, body: brotliCompressSync(await archiveOf(brotli, 20)), headers: { 'content-encoding': 'br' } });
  const loaded = await load(['--range', `${gzipped}..${brotli}`]);
  assert.equal(loaded.code, 0, loaded.stdout + loaded.stderr);
  const { rows } = await fixtures.db.pool.query(
    `SELECT upload_hour::text AS hour, count(*)::int AS n FROM amplitude.events WHERE upload_hour IN ('2024-06-01 06:00+00', '2024-06-01 07:00+00') GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(rows, [{ hour: '2024-06-01 06:00:00+00', n: 30 }, { hour: '2024-06-01 07:00:00+00', n: 20 }]);

  const odd = '20240601T08';
  fixtures.api.answer(odd, { status: 200, body: await archiveOf(odd), headers: { 'content-encoding': 'zstd' } });
  const refused = await load(['--range', odd, '--retries', '3']);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /failed 20240601T08: hour 20240601T08: the answer is encoded as "zstd" \(Content-Encoding\), which the loader cannot decode/);
  assert.equal(fixtures.api.requestsFor(odd).length, 1, 'not retried: the same answer would come again');
});

test('while a slow hour downloads, the JSON log says how far it is, every --progress-every seconds', async () => {
  const hour = '20240601T09';
  const zip = await archiveOf(hour, 300);
  fixtures.api.answer(hour, { status: 200, body: zip, pieces: 30, pieceDelayMs: 100 });
  const result = await load(['--range', hour, '--progress-every', '1', '--log-format', 'json', '--min-download-rate', '0']);
  assert.equal(result.code, 0, result.stderr);
  const progress = result.stderr
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; hour?: string; phase?: string; bytes_downloaded?: number; bytes_expected?: number })
    .filter((e) => e.event === 'progress');
  assert.ok(progress.length >= 1, result.stderr);
  const downloading = progress.find((e) => e.phase === 'downloading');
  assert.ok(downloading, result.stderr);
  assert.equal(downloading.hour, hour);
  assert.equal(downloading.bytes_expected, zip.length);
  assert.ok((downloading.bytes_downloaded ?? 0) > 0 && (downloading.bytes_downloaded ?? 0) < zip.length);
});
