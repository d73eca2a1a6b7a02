import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENTS_TABLE_COLUMNS } from '../../src/transform/event-columns.js';
import { encodeEventLine } from '../../src/transform/event-line.js';
import { ReplacementCursor } from '../../src/transform/utf8.js';
import { makeEvent } from '../helpers/events.js';

/** The encoded row as column name → COPY field (null for \N). */
function columnsOf(line: string, replacedAt: number[] = []): Record<string, string | null> & { sanitized: number } {
  const encoded = encodeEventLine(line, replacedAt.length > 0 ? new ReplacementCursor(line, Int32Array.from(replacedAt)) : undefined);
  assert.ok(encoded.ok, encoded.ok ? '' : encoded.reason);
  const text = typeof encoded.copyColumns === 'string' ? encoded.copyColumns : encoded.copyColumns.map(String).join('');
  const fields = text.split('\t');
  assert.equal(fields.length, EVENTS_TABLE_COLUMNS.length);
  const row: Record<string, string | null> = {};
  EVENTS_TABLE_COLUMNS.forEach((name, i) => (row[name] = fields[i] === '\\N' ? null : (fields[i] as string)));
  return Object.assign(row, { sanitized: encoded.sanitizedValues });
}

const UUID = '6f1c2a4e-9b7d-4c1e-8a2b-3c4d5e6f7a8b';

test('every documented key lands in its typed column', () => {
  const row = columnsOf(JSON.stringify(makeEvent({ uuid: UUID, paying: 'true' })));
  assert.equal(row.uuid, UUID);
  assert.equal(row.event_time, '2024-03-01 05:12:09.583000+00');
  assert.equal(row.amplitude_id, '501234567890');
  assert.equal(row.location_lat, '52.52');
  assert.equal(row.paying, 't');
  assert.equal(row.is_attribution_event, 'f');
  assert.equal(row.event_properties, '{"path":"/pricing"}');
  assert.equal(row.device_carrier, null);
  assert.equal(row.extra, '{"$schema":12}');
});

test('unknown keys are kept in extra with their exact text, nulls included', () => {
  const row = columnsOf(`{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00","new_key":{"n":12345678901234567890},"gone":null,"$schema":12}`);
  assert.equal(row.extra, '{"new_key":{"n":12345678901234567890},"gone":null,"$schema":12}');
});

test('a value its column cannot hold becomes NULL and stays in extra under its own key', () => {
  const row = columnsOf(
    `{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00","amplitude_id":"abc","session_id":1.5,"paying":"maybe",` +
      `"location_lat":0.12345678901234567890,"processed_time":"soon","user_id":{"id":1},"app":99999999999999999999}`,
  );
  assert.equal(row.amplitude_id, null);
  assert.equal(row.session_id, null);
  assert.equal(row.paying, null);
  assert.equal(row.location_lat, null);
  assert.equal(row.processed_time, null);
  assert.equal(row.user_id, null);
  assert.equal(row.app, null);
  assert.equal(
    row.extra,
    '{"amplitude_id":"abc","session_id":1.5,"paying":"maybe","location_lat":0.12345678901234567890,"processed_time":"soon","user_id":{"id":1},"app":99999999999999999999}',
  );
});

test('integers given as strings of digits fit bigint; numbers and booleans fit text as written', () => {
  const row = columnsOf(`{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00","session_id":"-1","user_id":9007199254740993,"platform":true}`);
  assert.equal(row.session_id, '-1');
  assert.equal(row.user_id, '9007199254740993');
  assert.equal(row.platform, 'true');
});

test('a missing or unreadable event_time falls back to client_event_time, then server_upload_time', () => {
  let row = columnsOf(`{"uuid":"${UUID}","event_time":null,"client_event_time":"2024-03-01 04:00:00.000001","server_upload_time":"2024-03-01 05:00:00"}`);
  assert.equal(row.event_time, '2024-03-01 04:00:00.000001+00');
  row = columnsOf(`{"uuid":"${UUID}","event_time":"garbage","client_event_time":"bad","server_upload_time":"2024-03-01 05:00:00"}`);
  assert.equal(row.event_time, '2024-03-01 05:00:00+00');
  assert.equal(row.client_event_time, null);
  assert.equal(row.extra, '{"event_time":"garbage","client_event_time":"bad"}');
});

test('lines that cannot be events come back with the reason', () => {
  const reasons = [
    ['not json at all', /not a JSON object/],
    ['[1,2,3]', /not a JSON object/],
    ['{"uuid":', /invalid JSON/],
    ['{"event_time":"2024-03-01 05:00:00"}', /no uuid/],
    ['{"uuid":"xyz","event_time":"2024-03-01 05:00:00"}', /not a valid UUID/],
    [`{"uuid":"${UUID}","event_time":"never"}`, /no usable time/],
  ] as const;
  for (const [line, reason] of reasons) {
    const encoded = encodeEventLine(line);
    assert.equal(encoded.ok, false, line);
    if (!encoded.ok) assert.match(encoded.reason, reason);
  }
});

test('NUL, unpaired surrogates and replaced bytes are counted once per field', () => {
  const line = String.raw`{"uuid":"${UUID}","event_time":"2024-03-01 05:00:00","user_id":"a\u0000b","event_properties":{"x":"\ud800","y":"\u0000"},"k\u0000":1,"city":"Bad�"}`;
  const at = line.indexOf('�');
  const row = columnsOf(line, [at]);
  assert.equal(row.user_id, 'a\uFFFDb');
  assert.equal(row.event_properties, String.raw`{"x":"\\ufffd","y":"\\ufffd"}`);
  assert.equal(row.city, 'Bad\uFFFD');
  assert.equal(row.extra, String.raw`{"k\\ufffd":1}`);
  assert.equal(row.sanitized, 4);
});

test('COPY specials inside values are escaped', () => {
  const row = columnsOf(JSON.stringify(makeEvent({ uuid: UUID, user_id: 'a\tb\\c\nd\re', event_properties: { p: 'x\\y' } })));
  assert.equal(row.user_id, 'a\\tb\\\\c\\nd\\re');
  assert.equal(row.event_properties, '{"p":"x\\\\\\\\y"}');
});
