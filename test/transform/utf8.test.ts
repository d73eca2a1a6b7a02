import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeUtf8Lossy } from '../../src/transform/utf8.js';

test('decodes like TextDecoder and reports every replacement', () => {
  const decoder = new TextDecoder();
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const interesting = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f];
  for (let round = 0; round < 3000; round++) {
    const bytes = Uint8Array.from({ length: Math.floor(random() * 12) }, () =>
      random() < 0.5 ? (interesting[Math.floor(random() * interesting.length)] as number) : Math.floor(random() * 256),
    );
    const decoded = decodeUtf8Lossy(bytes);
    assert.equal(decoded.text, decoder.decode(bytes), `bytes ${Buffer.from(bytes).toString('hex')}`);
    const valid = Buffer.from(decoded.text.replaceAll('\uFFFD', ''), 'utf8');
    const replacements = [...decoded.text.matchAll(/\uFFFD/g)].map((m) => m.index);
    // Without a U+FFFD of its own in the input, every one is a replacement.
    if (Buffer.from(bytes).indexOf(Buffer.from('\uFFFD')) < 0) assert.equal(decoded.replaced, 'every');
    const withOwn = decodeUtf8Lossy(Buffer.concat([Buffer.from('\uFFFD'), bytes]));
    assert.deepEqual([...(withOwn.replaced as Int32Array)], replacements.map((at) => at + 1), `bytes EF BF BD ${Buffer.from(bytes).toString('hex')}`);
    assert.ok(valid.length <= bytes.length);
  }
});

test('a valid U+FFFD in the input is not counted as a replacement', () => {
  const decoded = decodeUtf8Lossy(Buffer.concat([Buffer.from('a\uFFFDb'), Buffer.from([0xff])]));
  assert.equal(decoded.text, 'a\uFFFDb\uFFFD');
  assert.deepEqual([...(decoded.replaced as Int32Array)], [3]);
});
