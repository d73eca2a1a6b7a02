import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toBigint, toBoolean, toDouble, toTimestamptz, toUuid } from '../../src/transform/column-values.js';

test('timestamps: Amplitude form, ISO forms, to the microsecond', () => {
  assert.equal(toTimestamptz('2024-03-01 05:12:09.583000'), '2024-03-01 05:12:09.583000+00');
  assert.equal(toTimestamptz('2024-03-01 05:12:09.000001'), '2024-03-01 05:12:09.000001+00');
  assert.equal(toTimestamptz('2024-03-01 05:12:09'), '2024-03-01 05:12:09+00');
  assert.equal(toTimestamptz('2024-03-01T05:12:09.5Z'), '2024-03-01 05:12:09.5+00');
  assert.equal(toTimestamptz('2024-03-01T05:12:09.123456+05:30'), '2024-03-01 05:12:09.123456+05:30');
  assert.equal(toTimestamptz('2024-03-01T05:12:09-0800'), '2024-03-01 05:12:09-0800');
  assert.equal(toTimestamptz('2024-03-01T05:12Z'), '2024-03-01 05:12:00+00');
  assert.equal(toTimestamptz('2024-03-01 05:12:09.583000000'), '2024-03-01 05:12:09.583000+00');
  assert.equal(toTimestamptz('2024-02-29 00:00:00'), '2024-02-29 00:00:00+00');
});

test('timestamps that are not real times, or finer than a microsecond, are refused', () => {
  for (const bad of [
    '2023-02-29 00:00:00',
    '2024-13-01 00:00:00',
    '2024-04-31 00:00:00',
    '2024-03-01 24:00:00',
    '2024-03-01 05:60:00',
    '2024-03-01 05:12:60',
    '2024-03-01 05:12:09.5830001',
    '2024-03-01T05:12:09+16:00',
    '0000-01-01 00:00:00',
    '2024-03-01',
    '1709269929583',
    'yesterday',
    '',
  ]) {
    assert.equal(toTimestamptz(bad), undefined, bad);
  }
});

test('bigint keeps every digit and refuses what int8 cannot hold', () => {
  assert.equal(toBigint('9223372036854775807'), '9223372036854775807');
  assert.equal(toBigint('-9223372036854775808'), '-9223372036854775808');
  assert.equal(toBigint('9223372036854775808'), undefined);
  assert.equal(toBigint('-9223372036854775809'), undefined);
  assert.equal(toBigint('12345678901234567890123'), undefined);
  assert.equal(toBigint('9007199254740993'), '9007199254740993');
  for (const bad of ['1.0', '1e3', 'abc', '007', '', '+1', ' 1']) assert.equal(toBigint(bad), undefined, bad);
});

test('double precision takes numbers it holds exactly as written', () => {
  for (const ok of ['52.52', '-122.4194', '0', '-0', '1e-7', '1E+21', '0.1', '1.50', '100', '9007199254740992']) {
    assert.equal(toDouble(ok), ok, ok);
  }
  for (const bad of ['0.12345678901234567890', '9007199254740993', '1e400', '1e-400', 'NaN', 'abc', '.5']) {
    assert.equal(toDouble(bad), undefined, bad);
  }
});

test('booleans accept true/false in any case', () => {
  assert.equal(toBoolean('true'), 't');
  assert.equal(toBoolean('False'), 'f');
  assert.equal(toBoolean('yes'), undefined);
  assert.equal(toBoolean('1'), undefined);
});

test('uuid in its canonical or bare form', () => {
  assert.equal(toUuid('0F8FAD5B-D9CB-469F-A165-70867728950E'), '0F8FAD5B-D9CB-469F-A165-70867728950E');
  assert.equal(toUuid('0f8fad5bd9cb469fa16570867728950e'), '0f8fad5bd9cb469fa16570867728950e');
  assert.equal(toUuid('0f8fad5b-d9cb-469f-a165'), undefined);
  assert.equal(toUuid('not-a-uuid'), undefined);
});

