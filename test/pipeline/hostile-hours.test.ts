import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostileLine } from '../../src/demo/hostile-lines.js';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';
import { hostileHour } from '../helpers/hostile-events.js';
import { assertNoHalfLoadedHours } from '../helpers/invariants.js';

// Property: whatever the lines of an hour hold, the hour ends loaded, every event is a row, every
// other line a reject, the rollups equal a recomputation, the next load succeeds, and memory stays
// within the README's bound. AMPLITUDE_PG_HOSTILE_HOURS=200 npm test runs a longer search.
const HOURS = Number(process.env.AMPLITUDE_PG_HOSTILE_HOURS ?? 3);
const LINES_PER_HOUR = 240;
const fixtures = useLoaderFixtures();

function hourLabel(seed: number): string {
  return `2024${String(4 + Math.floor(seed / 600)).padStart(2, '0')}${String(1 + (Math.floor(seed / 24) % 25)).padStart(2, '0')}T${String(seed % 24).padStart(2, '0')}`;
}

for (let seed = 1; seed <= HOURS; seed++) {
  test(`a hostile hour (seed ${seed}) loads: every event a row, every other line a reject, rollups exact, the next load fine`, async () => {
    const hour = hourLabel(seed);
    const lines = hostileHour(seed, LINES_PER_HOUR);
    // Two parts, as a busy hour comes: lines 1..120 and 1..120 of the second entry.
    const half = LINES_PER_HOUR / 2;
    const part = (from: number, to: number) => Buffer.concat(lines.slice(from, to).flatMap((l) => [l.bytes, Buffer.from('\n')]));
    fixtures.api.archive(hour, await hourArchive(hour, [part(0, half), part(half, LINES_PER_HOUR)]));
    const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour, '--log-format', 'json']);
    assert.equal(result.code, 0, `seed ${seed}: ${result.stdout}${result.stderr.slice(-2000)}`);

    const uploadHour = `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(9)}:00+00`;
    const { rows: placed } = await fixtures.db.pool.query<{ entry: number; line: number; place: string }>(
      `SELECT archive_entry AS entry, archive_line AS line, 'row' AS place FROM amplitude.events WHERE upload_hour = $1
       UNION ALL SELECT archive_entry, archive_line, 'row' FROM amplitude_loader.duplicates WHERE upload_hour = $1
       UNION ALL SELECT archive_entry, line_number, 'reject' FROM amplitude_loader.rejects WHERE upload_hour = $1`,
      [uploadHour],
    );
    const where = new Map<string, string[]>();
    for (const p of placed) where.set(`${p.entry}:${p.line}`, [...(where.get(`${p.entry}:${p.line}`) ?? []), p.place]);
    lines.forEach((line, i) => {
      const key = `${i < half ? 1 : 2}:${(i % half) + 1}`;
      const places = where.get(key) ?? [];
      assert.equal(places.length, 1, `seed ${seed}, entry:line ${key} is ${places.length} things: ${places}; line ${line.bytes.toString().slice(0, 200)}`);
      if (line.event) assert.equal(places[0], 'row', `seed ${seed}, entry:line ${key} is an event, stored as a ${places[0]}: ${line.bytes.toString().slice(0, 300)}`);
    });
    assert.equal(placed.length, LINES_PER_HOUR);
    const { rows: status } = await fixtures.db.pool.query(`SELECT status FROM amplitude_loader.upload_hours WHERE upload_hour = $1`, [uploadHour]);
    assert.deepEqual(status, [{ status: 'loaded' }]);
    await assertNoHalfLoadedHours(fixtures.db.pool, 'amplitude');

    const summary = JSON.parse(result.stderr.trim().split('\n').at(-1) as string) as { max_rss_bytes: number };
    const longest = Math.max(...lines.map((l) => l.bytes.length));
    assert.ok(summary.max_rss_bytes <= 300e6 + 8 * longest, `peak RSS ${summary.max_rss_bytes} over 300 MB + 8 × the longest line (${longest})`);

    // The warehouse takes an ordinary hour after it.
    const next = `2025${hour.slice(4)}`;
    fixtures.api.archive(next, await hourArchive(next, [ndjson([makeEvent(), makeEvent()])]));
    const after = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', next]);
    assert.equal(after.code, 0, after.stdout + after.stderr);
  });
}

// What the README allows a transform thread beyond the bound: its own V8 heap at rest, and up to four
// times the line it holds (its heap collects its garbage on its own schedule).
const threadAllowance = (longestLine: number) => 50e6 + 4 * longestLine;

test('lines at --max-line-bytes of the costliest kinds keep the loader within the README\'s memory bound, on the main thread and on a transform thread', async () => {
  const limit = 16 * 1024 * 1024;
  const hour = '20240501T00';
  const kinds = ['plain text', 'raw control bytes', 'string escapes', 'many keys', 'invalid UTF-8, rare', 'huge numbers'] as const;
  // Each line a little under the limit, as long as the flag allows.
  const lines = kinds.map((kind, i) => hostileLine(kind, limit - 1024 * 1024, 100 + i));
  assert.ok(lines.every((line) => line.length <= limit && line.length > limit * 0.9));
  fixtures.api.archive(hour, await hourArchive(hour, [Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]))]));
  for (const threads of [0, 1]) {
    const args = ['--range', hour, '--max-line-bytes', String(limit), '--log-format', 'json', '--transform-threads', String(threads), '--schema', `threads_${threads}`];
    const result = await runLoad(fixtures.api.url, fixtures.db.url, args);
    assert.equal(result.code, 0, result.stdout + result.stderr.slice(-2000));
    const summary = JSON.parse(result.stderr.trim().split('\n').at(-1) as string) as { max_rss_bytes: number; rows_inserted: number };
    assert.equal(summary.rows_inserted, kinds.length, 'every line is a row');
    const bound = 300e6 + threads * threadAllowance(limit) + 8 * limit;
    assert.ok(summary.max_rss_bytes <= bound, `peak RSS ${(summary.max_rss_bytes / 1e6).toFixed(0)} MB with ${threads} thread(s) over the README's ${(bound / 1e6).toFixed(0)} MB`);
  }
});
