import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../../src/demo/seeded-random.js';
import { hourArchive } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

// Real-shaped lines, each mutated in one of many hostile ways, through the transform and COPY: every
// line must end as a row, a dropped copy or a reject, and the hour must load.
const fixtures = useLoaderFixtures();

const NUMBERS = ['1e200000', '-1e-20000', '0e-20000', `1${'0'.repeat(140_000)}`, `0.${'0'.repeat(17_000)}1`, '123456789012345678901234567890', '-0', '1E+5', '2e-7'];
const ESCAPES = ['\\u0000', '\\ud800', '\\udc00x', '\\ud83d\\ude00', '\\u00e9', '\\"', '\\\\', '\\/', '\\b\\f\\n\\r\\t'];
const BYTES = [[0xc3, 0x28], [0xff], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0x00], [0x1b]];

function mutate(random: SeededRandom, n: number): Buffer {
  const event = makeEvent({ event_time: '2024-05-01 07:10:00', server_upload_time: '2024-05-01 07:10:00', $insert_id: `fuzz-${n}` });
  let text = JSON.stringify(event);
  switch (random.int(9)) {
    case 0: // an extreme number somewhere a number may go, typed column or nested
      text = text.replace(random.pick(['"event_id":17', '"location_lat":52.52', '"$schema":12', '"session_id":1709269920000']), (m) => `${m.split(':')[0]}:${random.pick(NUMBERS)}`);
      text = text.replace('"path":"/pricing"', `"path":${random.pick(NUMBERS)}`);
      break;
    case 1: // escapes in keys and values
      text = text.replace('"city":"Berlin"', `"city":"Ber${random.pick(ESCAPES)}lin","k${random.pick(ESCAPES)}":"${random.pick(ESCAPES)}"`);
      break;
    case 2: {
      // nesting around Postgres's and the scanner's limits
      const depth = random.pick([10, 999, 1000, 1001, 2000]);
      text = text.replace('"groups":{}', `"groups":${'['.repeat(depth)}${']'.repeat(depth)}`);
      break;
    }
    case 3: {
      // bytes that are not UTF-8, inside a string
      const at = text.indexOf('Berlin') + 2;
      return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(random.pick(BYTES)), Buffer.from(text.slice(at))]);
    }
    case 4: // cut short anywhere
      text = text.slice(0, random.int(text.length));
      break;
    case 5: // values that fit no column
      text = text.replace(random.pick(['"uuid":"', '"event_time":"', '"amplitude_id":', '"paying":']), (m) => `${m}${random.pick(['zz', '9'.repeat(30), '2024-13-45', '{"a":1}', '[', 'true'])}`);
      break;
    case 6: // raw control characters and a byte order mark inside strings
      text = text.replace('"language":"de"', `"language":"d\u0001e\uFEFF\u007f"`);
      break;
    case 7: // the same key twice, and an empty key
      text = text.replace('{', '{"city":"first","":"empty",');
      break;
    default: // a long string
      text = text.replace('"/pricing"', `"${'x'.repeat(random.int(100_000))}"`);
  }
  return Buffer.from(text);
}

test('every mutated line ends as a row, a dropped copy or a reject, and its hour loads', async () => {
  const random = new SeededRandom(0xf022);
  const marked = makeEvent({ uuid: '11111111-2222-4333-8444-555555555555', event_time: '2024-05-01 07:20:00' });
  const lines = [...Array.from({ length: 300 }, (_, n) => mutate(random, n)), Buffer.from(JSON.stringify(marked).replace('"path":"/pricing"', '"huge":1e200000,"tiny":-1e-20000'))];
  const body = Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]));
  fixtures.api.archive('20240501T07', await hourArchive('20240501T07', [body]));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240501T07']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const { rows } = await fixtures.db.pool.query(
    `SELECT (SELECT count(*) FROM amplitude.events)::int + (SELECT count(*) FROM amplitude_loader.duplicates)::int AS kept_or_dropped,
            (SELECT count(*) FROM amplitude_loader.rejects)::int AS rejected,
            (SELECT sanitized_values FROM amplitude_loader.upload_hours)::int AS sanitized`,
  );
  const nonBlank = lines.filter((line) => line.toString('utf8').trim() !== '').length;
  assert.equal(rows[0].kept_or_dropped + rows[0].rejected, nonBlank);
  assert.ok(rows[0].kept_or_dropped > 100 && rows[0].rejected > 10, JSON.stringify(rows[0]));
  assert.ok(rows[0].sanitized > 0);
  // A number numeric cannot hold is kept as the text it was.
  const { rows: kept } = await fixtures.db.pool.query(
    `SELECT event_properties FROM amplitude.events WHERE uuid = '11111111-2222-4333-8444-555555555555'`,
  );
  assert.deepEqual(kept, [{ event_properties: { huge: '1e200000', tiny: '-1e-20000' } }]);
});
