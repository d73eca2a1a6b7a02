import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { zeroCounters, type LineCounters } from '../../src/counters.js';
import { hostileLine, LINE_KINDS } from '../../src/demo/hostile-lines.js';
import { LimitExceededError } from '../../src/errors.js';
import { TransformThreads, transformInProcess, type EntryTransform } from '../../src/transform/transform-threads.js';
import { entrySource } from '../helpers/entry-source.js';
import { makeEvent } from '../helpers/events.js';

const SOURCE = entrySource({ maxLineBytes: 1024 * 1024 });

const ENTRY = entryBytes();

// An entry of every kind of line: ordinary events of two months, hostile lines, rejects, a blank line,
// invalid UTF-8; several batches long. Cut into chunks that split lines and characters.
function entryBytes(): Buffer {
  // Fixed ids: two entries made alike are the same bytes.
  let n = 0;
  const lines: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    const month = i % 3 === 0 ? '2024-02-29' : '2024-03-01';
    lines.push(Buffer.from(JSON.stringify(makeEvent({ uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, event_time: `${month} 05:00:0${i % 10}.123456`, $insert_id: `insert-${n++}`, event_properties: { i, text: 'é中😀' } }))));
    // Short, and long enough that values come as bytes of their own.
    if (i % 500 === 0) for (const kind of LINE_KINDS) lines.push(hostileLine(kind, i % 1000 === 0 ? 2000 : 200_000, i));
    if (i % 700 === 0) lines.push(Buffer.from('{"not": "an event"'), Buffer.from(''), Buffer.from([0x7b, 0xff, 0x7d]));
  }
  return Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]));
}

async function* chunksOf(bytes: Buffer, size = 4099): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function encodeAll(transform: EntryTransform, bytes: Buffer) {
  const counters = zeroCounters();
  const events: Buffer[] = [];
  let keys = '';
  let rejects = '';
  const months = new Set<number>();
  for await (const batch of transform(chunksOf(bytes), SOURCE, counters)) {
    for (const piece of batch.events) events.push(typeof piece === 'string' ? Buffer.from(piece) : piece);
    keys += batch.keys;
    rejects += batch.rejects;
    for (const month of batch.months) months.add(month);
  }
  const counted: LineCounters = { eventsRead: counters.eventsRead, rejectedLines: counters.rejectedLines, sanitizedValues: counters.sanitizedValues };
  return { events: Buffer.concat(events).toString('utf8'), keys, rejects, months: [...months].sort(), counted };
}

const threads = new TransformThreads(2);
after(() => threads.close());

test('on threads an entry becomes the same COPY bytes, keys, rejects, months and counts as on the main thread', async () => {
  const bytes = ENTRY;
  const expected = await encodeAll(transformInProcess, bytes);
  assert.ok(expected.counted.eventsRead > 3000 && expected.counted.rejectedLines > 0 && expected.counted.sanitizedValues > 0 && expected.months.length === 2);
  let bytePieces = 0;
  for await (const batch of transformInProcess(chunksOf(bytes), SOURCE, zeroCounters())) bytePieces += batch.events.filter(Buffer.isBuffer).length;
  assert.ok(bytePieces >= 3, 'long values came as bytes');
  // Three entries at once on two threads: the third waits for a free one.
  const results = await Promise.all([0, 1, 2].map(() => encodeAll(threads.transform, bytes)));
  for (const result of results) assert.deepEqual(result, expected);
});

test('a line over the limit fails on a thread as it does on the main thread, and the threads go on', async () => {
  const bytes = Buffer.concat([ENTRY, hostileLine('plain text', 2 * SOURCE.maxLineBytes, 1), Buffer.from('\n')]);
  const local = await encodeAll(transformInProcess, bytes).catch((error: unknown) => error);
  const threaded = await encodeAll(threads.transform, bytes).catch((error: unknown) => error);
  assert.ok(local instanceof LimitExceededError && threaded instanceof LimitExceededError);
  assert.equal(threaded.message, local.message);
  assert.deepEqual([threaded.hour, threaded.entry, threaded.line, threaded.retryable], [local.hour, local.entry, local.line, false]);
  assert.deepEqual(await encodeAll(threads.transform, ENTRY), await encodeAll(transformInProcess, ENTRY));
});

test('an entry left after its first batch stops its reading, and a failing read reaches the caller as it was', async () => {
  let chunksRead = 0;
  let closed = false;
  async function* counted(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of chunksOf(ENTRY)) {
        chunksRead++;
        yield chunk;
      }
    } finally {
      closed = true;
    }
  }
  for await (const batch of threads.transform(counted(), SOURCE, zeroCounters())) {
    assert.ok(batch.events.length > 0);
    break;
  }
  assert.equal(closed, true, 'the entry was closed');
  assert.ok(chunksRead < Math.ceil(ENTRY.length / 4099), 'it was not read to the end');

  const corrupt = new Error('invalid distance too far back');
  async function* failing(): AsyncGenerator<Buffer> {
    yield* chunksOf(ENTRY.subarray(0, 100_000));
    throw corrupt;
  }
  const failed = await (async () => {
    for await (const _batch of threads.transform(failing(), SOURCE, zeroCounters()));
  })().catch((error: unknown) => error);
  assert.equal(failed, corrupt);
  assert.deepEqual(await encodeAll(threads.transform, ENTRY), await encodeAll(transformInProcess, ENTRY));
});
