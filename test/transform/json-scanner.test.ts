import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CHANGED,
  JsonSyntaxError,
  KIND_STRING,
  MAX_NESTING_DEPTH,
  NEEDS_REWRITE,
  NotAnObjectError,
  ScannedFields,
  decodeKey,
  decodeText,
  fitsNumeric,
  scanTopLevelObject as scanInto,
  toCopyJson,
  toStorableJson,
} from '../../src/transform/json-scanner.js';

interface Field {
  key: string;
  raw: string;
  text: string | undefined;
  changed: boolean;
  needsRewrite: boolean;
}

/** The scan as plain objects, for assertions. */
function scanTopLevelObject(line: string): Field[] {
  const fields = new ScannedFields();
  scanInto(line, fields);
  return Array.from({ length: fields.count }, (_, k) => ({
    key: decodeKey(line, fields, k),
    raw: line.slice(fields.valueStart[k], fields.valueEnd[k]),
    text: fields.kind[k] === KIND_STRING ? decodeText(line, fields, k) : undefined,
    changed: ((fields.flags[k] as number) & CHANGED) !== 0,
    needsRewrite: ((fields.flags[k] as number) & NEEDS_REWRITE) !== 0,
  }));
}

function raw(line: string, key: string): string {
  const field = scanTopLevelObject(line).find((f) => f.key === key);
  assert.ok(field, `no field ${key}`);
  return field.raw;
}

test('each top-level value keeps its exact source text', () => {
  const line = '{"a": 12345678901234567890123, "b":1.0,"c" : 1e-7, "d":{"x":[1, 2.50, {"y":null}]}, "e":"s", "f":true}';
  assert.equal(raw(line, 'a'), '12345678901234567890123');
  assert.equal(raw(line, 'b'), '1.0');
  assert.equal(raw(line, 'c'), '1e-7');
  assert.equal(raw(line, 'd'), '{"x":[1, 2.50, {"y":null}]}');
  assert.equal(raw(line, 'e'), '"s"');
  assert.equal(raw(line, 'f'), 'true');
});

test('strings are decoded, escapes and surrogate pairs included', () => {
  const [field] = scanTopLevelObject(String.raw`{"k\u00e9y":"a\"b\\c\/d\n\t\ud83d\ude00é"}`);
  assert.equal(field?.key, 'kéy');
  assert.equal(field?.text, 'a"b\\c/d\n\t😀é');
  assert.equal(field?.changed, false);
  assert.equal(field?.needsRewrite, false);
});

test('NUL and unpaired surrogates become U+FFFD and mark the field changed', () => {
  const fields = scanTopLevelObject(String.raw`{"a":"x\u0000y","b":"\ud800z","c":"\udc00","d":{"n":"\u0000"},"e":"ok"}`);
  assert.deepEqual(
    fields.map((f) => [f.key, f.text, f.changed, f.needsRewrite]),
    [
      ['a', 'x\uFFFDy', true, true],
      ['b', '\uFFFDz', true, true],
      ['c', '\uFFFD', true, true],
      ['d', undefined, true, true],
      ['e', 'ok', false, false],
    ],
  );
});

test('a raw control character is accepted and marked for rewriting, not as a change', () => {
  const [field] = scanTopLevelObject('{"a":"tab\there"}');
  assert.equal(field?.text, 'tab\there');
  assert.equal(field?.changed, false);
  assert.equal(field?.needsRewrite, true);
});

test('toStorableJson escapes what Postgres refuses and leaves everything else as written', () => {
  assert.equal(toStorableJson(String.raw`{"a":"\u0000","b":"\ud800","n":1.50}`), String.raw`{"a":"\ufffd","b":"\ufffd","n":1.50}`);
  assert.equal(toStorableJson('["t\tx\u0001\r", "\u0000"]'), String.raw`["t\tx\u0001\r", "\ufffd"]`);
  assert.equal(toStorableJson(String.raw`"\ud83d\ude00 \\u0000"`), String.raw`"\ud83d\ude00 \\u0000"`);
});

test('toCopyJson rewrites for jsonb and escapes for COPY in one pass, the same at any length', () => {
  const tab = '\t';
  const control = '\u0001';
  // For COPY every backslash is doubled, and a raw tab inside a string becomes the JSON escape first.
  assert.equal(
    String(toCopyJson(`["t${tab}x${control}", "\\u0000", "a\\\\b", "\\ud800", "\\ud83d\\ude00"]`)),
    String.raw`["t\\tx\\u0001", "\\ufffd", "a\\\\b", "\\ufffd", "\\ud83d\\ude00"]`,
  );
  // Characters past ASCII as UTF-8, a raw unpaired surrogate as U+FFFD.
  assert.equal(String(toCopyJson(`["é ß", "中 ${'\ud800'}😀 𝄞", "${'\udfff'}"]`)), '["é ß", "中 \ufffd😀 𝄞", "\ufffd"]');
  // Long values are built in a buffer of their own and come as its UTF-8 bytes, whatever their
  // characters; every piece comes out as it does alone.
  const pieces = [
    String.raw`"\u0000 \ud800 \ud83d\ude00 \\ \" x"`,
    `"raw${control}${tab}tab"`,
    '1e999999',
    `${tab}-1.5e-99999`,
    '12345678901234567890123456789',
    '"café"',
    `"中 😀 ${'\ud800'} \\udfff"`,
  ];
  for (const kinds of [pieces.slice(0, 5), pieces.slice(0, 6), pieces]) {
    const each = (rewrite: (piece: string) => string) => `[${Array.from({ length: 20_000 }, (_, i) => rewrite(kinds[i % kinds.length] as string)).join(',')}]`;
    const long = each((piece) => piece);
    const expected = each((piece) => String(toCopyJson(piece)));
    const copied = toCopyJson(long);
    assert.ok(Buffer.isBuffer(copied), 'bytes, never a string');
    assert.equal(copied.toString('utf8'), expected);
    assert.equal(String(toCopyJson(`{"v":${long}}`, 5, 5 + long.length)), expected, 'a range of a line, read in place');
    assert.equal(toStorableJson(long), each(toStorableJson));
  }
});

test('lines that are not one JSON object are refused with a reason', () => {
  assert.throws(() => scanTopLevelObject('[1,2]'), NotAnObjectError);
  assert.throws(() => scanTopLevelObject('"text"'), NotAnObjectError);
  for (const bad of ['{"a":1', '{"a":1}}', '{"a":01}', '{"a":1.}', '{"a":tru}', "{'a':1}", '{"a":"\\x"}', '{"a" 1}', '{"a":1,}', '{"a":"unterminated}']) {
    assert.throws(() => scanTopLevelObject(bad), JsonSyntaxError, bad);
  }
});

test('more fields than the arrays first hold, and keys in any order, scan right', () => {
  const entries = Array.from({ length: 300 }, (_, i) => [`k${i}`, i]);
  const fields = scanTopLevelObject(JSON.stringify(Object.fromEntries(entries)));
  assert.equal(fields.length, 300);
  assert.deepEqual(fields.at(-1), { key: 'k299', raw: '299', text: undefined, changed: false, needsRewrite: false });
});

test('nesting deeper than Postgres can parse is refused', () => {
  const ok = `{"a":${'['.repeat(MAX_NESTING_DEPTH - 1)}${']'.repeat(MAX_NESTING_DEPTH - 1)}}`;
  assert.equal(scanTopLevelObject(ok).length, 1);
  const deep = `{"a":${'['.repeat(MAX_NESTING_DEPTH)}${']'.repeat(MAX_NESTING_DEPTH)}}`;
  assert.throws(() => scanTopLevelObject(deep), /nesting deeper/);
});

test('agrees with JSON.parse on which texts are valid', () => {
  const samples = ['{}', ' {"a" : [ ] } ', '{"a":-0.0e+5}', '{"a":"\\u12"}', '{"a":[1,]}', '{"a":{"b":{}}}\r', '{"a":1} x', '{"":""}'];
  for (const sample of samples) {
    let parsed = true;
    try {
      JSON.parse(sample);
    } catch {
      parsed = false;
    }
    let scanned = true;
    try {
      scanTopLevelObject(sample);
    } catch {
      scanned = false;
    }
    assert.equal(scanned, parsed, sample);
  }
});

test('numbers numeric cannot hold are kept as strings of their exact text, and counted', () => {
  for (const [text, fits] of [
    ['1e-16383', true],
    ['1e-16384', false],
    ['1.5e-16383', false],
    ['1.0000e-16380', false],
    ['1e131071', true],
    ['9.9e131071', true],
    ['10e131071', false],
    ['1e131072', false],
    ['0e200000', true],
    ['0e-20000', false],
    ['-1e131072', false],
    ['1e99999999999999999999', false],
    ['0.001e131074', true],
    ['123.456', true],
  ] as const) {
    assert.equal(fitsNumeric(text), fits, text);
  }
  assert.equal(toStorableJson('{"x":1e200000,"y":[1.5,-2e-20000],"z":"1e200000"}'), '{"x":"1e200000","y":[1.5,"-2e-20000"],"z":"1e200000"}');
  const fields = new ScannedFields();
  scanInto('{"a":1e5,"b":{"c":1e200000},"d":1}', fields);
  assert.deepEqual([...fields.flags.slice(0, 3)].map((f) => f & (CHANGED | NEEDS_REWRITE)), [0, CHANGED | NEEDS_REWRITE, 0]);
});
