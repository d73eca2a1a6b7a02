import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeroCounters } from '../../src/counters.js';
import { hostileLine, LINE_KINDS, type LineKind } from '../../src/demo/hostile-lines.js';
import { encodeEntryLines } from '../../src/transform/entry-lines.js';
import { scanWork } from '../../src/transform/json-scanner.js';
import { entrySource } from '../helpers/entry-source.js';

const SOURCE = entrySource();

/** The scanner's work to encode `lines`, and what became of them. */
async function encode(lines: Buffer[]): Promise<{ work: number; rows: number; rejects: number; bytes: number }> {
  const counters = zeroCounters();
  const before = scanWork.characters;
  async function* chunks() {
    for (const line of lines) yield Buffer.concat([line, Buffer.from('\n')]);
  }
  for await (const _batch of encodeEntryLines(chunks(), SOURCE, counters)) {
    // Only the work matters here; the batches are dropped.
  }
  return {
    work: scanWork.characters - before,
    rows: counters.eventsRead - counters.rejectedLines,
    rejects: counters.rejectedLines,
    bytes: lines.reduce((sum, line) => sum + line.length, 0),
  };
}

// At these sizes a step that rescans its string for every escape would look at about 10^11 characters.
const SMALL = 256 * 1024;
const LARGE = 4 * SMALL;

for (const kind of LINE_KINDS) {
  test(`a line of ${kind}: the transform's work is linear in its bytes`, async () => {
    const small = await encode([hostileLine(kind, SMALL, 1)]);
    const large = await encode([hostileLine(kind, LARGE, 2)]);
    assert.equal(small.rows + small.rejects, 1);
    assert.equal(large.rows, small.rows, `${kind}: a row at both sizes, or a reject at both`);
    const ratio = large.work / large.bytes / (small.work / small.bytes);
    assert.ok(ratio < 1.25, `${kind}: work per byte grew ${ratio.toFixed(2)} times from ${small.bytes} to ${large.bytes} bytes (${small.work} → ${large.work})`);
    assert.ok(large.work <= 8 * large.bytes, `${kind}: ${large.work} characters looked at for ${large.bytes} bytes`);
  });
}

test('a seeded mix of every kind, line after line, costs the sum of its lines', async () => {
  const kinds = (seed: number): LineKind[] => Array.from({ length: 22 }, (_, i) => LINE_KINDS[(i * 7 + seed) % LINE_KINDS.length] as LineKind);
  const small = await encode(kinds(3).map((kind, i) => hostileLine(kind, SMALL / 8, i, 11)));
  const large = await encode(kinds(3).map((kind, i) => hostileLine(kind, SMALL / 2, i, 11)));
  assert.equal(small.rows + small.rejects, 22);
  const ratio = large.work / large.bytes / (small.work / small.bytes);
  assert.ok(ratio < 1.25, `work per byte grew ${ratio.toFixed(2)} times (${small.work} → ${large.work})`);
});
