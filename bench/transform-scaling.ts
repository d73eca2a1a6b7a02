/**
 * `npm run bench -- --transform-scaling`: the transform alone (the export's NDJSON lines scanned and
 * encoded as COPY rows, nothing written anywhere), on the main thread and on 1, 2, … worker threads,
 * with `--concurrency` entries under way at once as the loader has hours in flight. No Postgres runs
 * beside it, so the cores the threads get are free: what a machine with cores to spare gives the
 * loader. The NDJSON is read from memory, so gunzip (the main thread's in the loader) is not in it;
 * the rows are encoded as UTF-8 bytes, as the COPY's socket writes need them, and then dropped.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { zeroCounters } from '../src/counters.js';
import type { EntrySource } from '../src/transform/entry-lines.js';
import { TransformThreads, transformInProcess, type EntryTransform } from '../src/transform/transform-threads.js';

const CHUNK_BYTES = 64 * 1024;
const LINES_PER_ENTRY = 25_000;

interface ScalingRun {
  threads: number;
  seconds: number;
  cpuSeconds: number;
}

/** The NDJSON file cut into entries of LINES_PER_ENTRY whole lines. */
function entriesOf(ndjson: Buffer): Buffer[] {
  const entries: Buffer[] = [];
  let start = 0;
  let lines = 0;
  for (let at = ndjson.indexOf(10); at !== -1; at = ndjson.indexOf(10, at + 1)) {
    if (++lines === LINES_PER_ENTRY) {
      entries.push(ndjson.subarray(start, at + 1));
      start = at + 1;
      lines = 0;
    }
  }
  if (start < ndjson.length) entries.push(ndjson.subarray(start));
  return entries;
}

async function encodeAll(entries: readonly Buffer[], transform: EntryTransform, concurrency: number): Promise<number> {
  let next = 0;
  let rows = 0;
  const worker = async () => {
    for (let index = next++; index < entries.length; index = next++) {
      const entry = entries[index] as Buffer;
      async function* chunks() {
        for (let at = 0; at < entry.length; at += CHUNK_BYTES) yield entry.subarray(at, at + CHUNK_BYTES);
      }
      const source: EntrySource = {
        hourLabel: '20240601T00',
        project: 'default',
        uploadHour: '2024-06-01T00:00:00.000Z',
        loadedAt: '2026-12-06 00:00:00+00',
        entryName: `entry-${index + 1}.json`,
        entryNumber: index + 1,
        maxLineBytes: 256 * 1024 ** 2,
      };
      const counters = zeroCounters();
      // As the loader's COPY writes them: each piece as UTF-8 bytes (a thread hands over bytes already).
      let encoded = 0;
      for await (const batch of transform(chunks(), source, counters)) {
        for (const piece of batch.events) encoded += typeof piece === 'string' ? Buffer.from(piece).length : piece.length;
        encoded += Buffer.from(batch.keys).length;
      }
      if (encoded === 0) throw new Error(`entry ${index + 1}: nothing encoded`);
      rows += counters.eventsRead - counters.rejectedLines;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
  return rows;
}

async function timed(threads: number, entries: readonly Buffer[], concurrency: number, expectedRows: number): Promise<ScalingRun> {
  const pool = threads > 0 ? new TransformThreads(threads) : undefined;
  try {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const rows = await encodeAll(entries, pool?.transform ?? transformInProcess, concurrency);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    if (rows !== expectedRows) throw new Error(`${threads} thread(s) encoded ${rows} rows, not ${expectedRows}`);
    return { threads, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await pool?.close();
  }
}

export async function runTransformScaling(ndjsonPath: string, events: number, concurrency: number): Promise<void> {
  const entries = entriesOf(await readFile(ndjsonPath));
  const cores = availableParallelism();
  const threadCounts = [0, ...Array.from({ length: Math.max(2, cores) }, (_, i) => i + 1)];
  // Warm up the JIT and the threads' code once, then two rounds alternated; the faster of each kept.
  await timed(0, entries.slice(0, 1), 1, LINES_PER_ENTRY);
  const best = new Map<number, ScalingRun>();
  for (let round = 0; round < 2; round++) {
    for (const threads of threadCounts) {
      const run = await timed(threads, entries, concurrency, events);
      const seen = best.get(threads);
      if (seen === undefined || run.seconds < seen.seconds) best.set(threads, run);
    }
  }
  const base = best.get(0) as ScalingRun;
  const lines = [
    `amplitude-pg transform scaling, ${new Date().toISOString().slice(0, 10)}: ${events} events in ${entries.length} entries, ` +
      `${Math.min(concurrency, entries.length)} at once; ${cores} cores; no Postgres, no gunzip`,
    '',
    'threads          seconds   events/s   CPU s   speed vs main thread',
    ...[...best.values()].map(
      (run) =>
        `${(run.threads === 0 ? 'main thread' : String(run.threads)).padEnd(13)}${run.seconds.toFixed(2).padStart(10)}${Math.round(events / run.seconds)
          .toString()
          .padStart(11)}${run.cpuSeconds.toFixed(2).padStart(8)}${(base.seconds / run.seconds).toFixed(2).padStart(10)}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
