/**
 * `npm run bench -- --lines`: for each kind of content a line can be made of, the transform's time and
 * peak memory on one line of 1 MB and of 50 MB (or `--line-mb`), each in a fresh process so one kind's
 * peak is not another's. Linear work shows as a large/small time ratio near the size ratio.
 *
 * Run as a child (`node line-cost.js FILE`), it encodes the one line in FILE, fed in 1 MB chunks as an
 * archive entry arrives, and prints seconds and peak RSS as JSON.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zeroCounters } from '../src/counters.js';
import { hostileLine, LINE_KINDS } from '../src/demo/hostile-lines.js';
import { encodeEntryLines } from '../src/transform/entry-lines.js';

interface LineRun {
  seconds: number;
  peakRssBytes: number;
  rows: number;
  rejects: number;
}

async function encodeFile(path: string): Promise<LineRun> {
  const bytes = readFileSync(path);
  const counters = zeroCounters();
  async function* chunks() {
    for (let at = 0; at < bytes.length; at += 1024 * 1024) yield bytes.subarray(at, at + 1024 * 1024);
  }
  const source = {
    hourLabel: '20240301T05',
    project: 'default',
    uploadHour: '2024-03-01T05:00:00.000Z',
    loadedAt: '2026-12-05 00:00:00+00',
    entryName: 'bench',
    entryNumber: 1,
    maxLineBytes: 256 * 1024 ** 2,
  };
  const started = performance.now();
  let held = 0;
  for await (const batch of encodeEntryLines(chunks(), source, counters)) held += batch.events.reduce((sum, piece) => sum + piece.length, 0) + batch.keys.length + batch.rejects.length;
  const seconds = (performance.now() - started) / 1000;
  if (held === 0) throw new Error('nothing encoded');
  return { seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, rows: counters.eventsRead - counters.rejectedLines, rejects: counters.rejectedLines };
}

/**
 * The least a rewrite in JavaScript costs: one pass over the line's characters that only writes each
 * as a byte (backslashes doubled, as COPY wants them), after decoding it as the transform does. Any
 * kind whose values must be rewritten pays at least this on top of what a plain line costs.
 */
function copyPassSeconds(path: string): number {
  const line = readFileSync(path).toString('utf8');
  const out = new Uint8Array(line.length * 2);
  const started = performance.now();
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    out[n++] = c;
    if (c === 92) out[n++] = c;
  }
  return (performance.now() - started) / 1000;
}

/** Every kind at both sizes; prints the table. */
export async function runLineCosts(largeMb: number): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'amplitude-pg-lines-'));
  const sizes = [1, largeMb];
  const results = new Map<string, LineRun[]>();
  let copyPass = 0;
  try {
    for (const kind of LINE_KINDS) {
      const runs: LineRun[] = [];
      for (const mb of sizes) {
        const file = join(folder, 'line.json');
        await writeFile(file, Buffer.concat([hostileLine(kind, mb * 1e6, 1), Buffer.from('\n')]));
        const output = execFileSync(process.execPath, [fileURLToPath(import.meta.url), file], { encoding: 'utf8', maxBuffer: 1 << 20 });
        runs.push(JSON.parse(output) as LineRun);
        process.stderr.write(`${kind}, ${mb} MB: ${runs.at(-1)?.seconds.toFixed(2)} s\n`);
      }
      results.set(kind, runs);
    }
    const file = join(folder, 'line.json');
    await writeFile(file, Buffer.concat([hostileLine('string escapes', largeMb * 1e6, 1), Buffer.from('\n')]));
    copyPass = Number(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--copy-pass', file], { encoding: 'utf8' }));
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  const plain = results.get('plain text') as LineRun[];
  const mbPerSecond = (run: LineRun, mb: number) => mb / run.seconds;
  const lines = [
    `amplitude-pg bench --lines, ${new Date().toISOString().slice(0, 10)}: the transform on one line of each kind, 1 MB and ${largeMb} MB, each in a fresh process`,
    '',
    `${'kind'.padEnd(26)}${'1 MB s'.padStart(9)}${`${largeMb} MB s`.padStart(10)}${'ratio'.padStart(8)}${'MB/s'.padStart(8)}${'peak RSS MB'.padStart(13)}${'vs plain'.padStart(10)}  result`,
  ];
  let worst = { kind: '', mbPerSecond: Infinity };
  for (const [kind, [small, large]] of results as Map<string, [LineRun, LineRun]>) {
    const rate = mbPerSecond(large, largeMb);
    if (rate < worst.mbPerSecond) worst = { kind, mbPerSecond: rate };
    lines.push(
      `${kind.padEnd(26)}${small.seconds.toFixed(3).padStart(9)}${large.seconds.toFixed(2).padStart(10)}${(large.seconds / small.seconds).toFixed(1).padStart(8)}` +
        `${rate.toFixed(1).padStart(8)}${(large.peakRssBytes / 1e6).toFixed(0).padStart(13)}${(large.peakRssBytes / (plain[1] as LineRun).peakRssBytes).toFixed(2).padStart(10)}  ` +
        `${large.rows ? 'row' : 'reject'}`,
    );
  }
  const plainRate = mbPerSecond(plain[1] as LineRun, largeMb);
  lines.push(
    '',
    `ratio: ${largeMb} MB time over 1 MB time (linear is about ${largeMb}; target ≤ ${Math.round(largeMb * 1.2)})`,
    `worst kind: ${worst.kind}, ${worst.mbPerSecond.toFixed(1)} MB/s = ${(worst.mbPerSecond / plainRate).toFixed(2)} of plain text's ${plainRate.toFixed(1)} MB/s (target ≥ 0.33)`,
    `peak RSS: target ≤ 2 × plain text's ${((plain[1] as LineRun).peakRssBytes / 1e6).toFixed(0)} MB for every kind`,
    `copy pass: one JavaScript pass that only writes each character of the ${largeMb} MB string escapes line as a byte, ` +
      `backslashes doubled: ${copyPass.toFixed(2)} s; a plain line's transform plus that one pass would run at ` +
      `${((plain[1] as LineRun).seconds / ((plain[1] as LineRun).seconds + copyPass)).toFixed(2)} of plain text's MB/s`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] !== undefined) {
  if (process.argv[2] === '--copy-pass') process.stdout.write(String(copyPassSeconds(process.argv[3] as string)));
  else process.stdout.write(JSON.stringify(await encodeFile(process.argv[2])));
}
