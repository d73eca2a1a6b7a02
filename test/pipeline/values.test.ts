import assert from 'node:assert/strict';
import { test } from 'node:test';
import { amplitudeEntryName, buildZip, gzipPart, hourArchive, ndjson } from '../helpers/archive.js';
import { runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

const fixtures = useLoaderFixtures();
async function load(hour: string, parts: (string | Buffer)[]) {
  fixtures.api.archive(hour, await hourArchive(hour, parts));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return result;
}

async function row(uuid: string, select: string): Promise<Record<string, unknown>> {
  const { rows } = await fixtures.db.pool.query(`SELECT ${select} FROM amplitude.events WHERE uuid = $1`, [uuid]);
  assert.equal(rows.length, 1, `one row for ${uuid}`);
  return rows[0];
}

const TS = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS ${column}`;

test('every typed column holds its value exactly', async () => {
  const uuid = '11111111-1111-4111-8111-111111111111';
  const line =
    `{"uuid":"${uuid}","event_time":"2024-03-01 05:12:09.583001","event_type":"purchase","user_id":"u-1","device_id":"d-1",` +
    `"app":187520,"amplitude_id":9007199254740993,"session_id":-1,"event_id":2147483648,"$insert_id":"ins-1","$insert_key":"key-1",` +
    `"client_event_time":"2024-03-01T05:12:09.000001Z","client_upload_time":"2024-03-01 05:12:10","server_received_time":"2024-03-01T07:12:10.5+02:00",` +
    `"server_upload_time":"2024-03-01 05:12:10.999999","processed_time":"2024-03-01 05:12:11.100000","user_creation_time":"2023-01-01 00:00:00.000000",` +
    `"platform":"iOS","os_name":"ios","os_version":"17.2","device_type":"iPhone","device_family":"Apple iPhone","device_carrier":"T-Mobile",` +
    `"device_brand":"Apple","device_manufacturer":"Apple","device_model":"iPhone15,2","city":"Zürich","region":"ZH","country":"Switzerland","dma":"none",` +
    `"language":"German","library":"amplitude-swift/1.0","ip_address":"198.51.100.1","version_name":"5.1","start_version":"4.0","adid":"ad-1",` +
    `"idfa":"AEBE52E7-03EE-455A-B3C4-E57283966239","data_type":"event","partner_id":"p-1","source_id":"s-1","amplitude_event_type":"identify",` +
    `"location_lat":47.3769,"location_lng":8.5417,"sample_rate":0.25,"paying":"true","is_attribution_event":false,` +
    `"event_properties":{"price":19.90,"qty":1.0,"tiny":1e-7,"nested":{"list":[1,"two",null,true]}},"user_properties":{"plan":"EMPTY"},` +
    `"group_properties":{"org":{"tier":"gold"}},"groups":{"org":["a","b"]},"data":{"path":"/x"},"plan":{"branch":"main","version":"3"},` +
    `"global_user_properties":{"g":1},"amplitude_attribution_ids":"att-1"}`;
  await load('20240301T05', [line + '\n']);
  const r = await row(
    uuid,
    `${['event_time', 'client_event_time', 'client_upload_time', 'server_received_time', 'server_upload_time', 'processed_time', 'user_creation_time'].map(TS).join(', ')},
     event_type, user_id, device_id, app::text, amplitude_id::text, session_id::text, event_id::text, insert_id, insert_key,
     platform, os_name, os_version, device_type, device_family, device_carrier, device_brand, device_manufacturer, device_model,
     city, region, country, dma, language, library, ip_address, version_name, start_version, adid, idfa, data_type, partner_id,
     source_id, amplitude_event_type, location_lat::text, location_lng::text, sample_rate::text, paying, is_attribution_event,
     event_properties = '{"price":19.90,"qty":1.0,"tiny":1e-7,"nested":{"list":[1,"two",null,true]}}'::jsonb AS event_properties_exact,
     event_properties->>'price' AS price_text, event_properties->>'qty' AS qty_text,
     user_properties::text, group_properties::text, groups::text, data::text, plan::text, global_user_properties::text,
     amplitude_attribution_ids::text, extra::text`,
  );
  assert.deepEqual(r, {
    event_time: '2024-03-01 05:12:09.583001',
    client_event_time: '2024-03-01 05:12:09.000001',
    client_upload_time: '2024-03-01 05:12:10.000000',
    server_received_time: '2024-03-01 05:12:10.500000',
    server_upload_time: '2024-03-01 05:12:10.999999',
    processed_time: '2024-03-01 05:12:11.100000',
    user_creation_time: '2023-01-01 00:00:00.000000',
    event_type: 'purchase',
    user_id: 'u-1',
    device_id: 'd-1',
    app: '187520',
    amplitude_id: '9007199254740993',
    session_id: '-1',
    event_id: '2147483648',
    insert_id: 'ins-1',
    insert_key: 'key-1',
    platform: 'iOS',
    os_name: 'ios',
    os_version: '17.2',
    device_type: 'iPhone',
    device_family: 'Apple iPhone',
    device_carrier: 'T-Mobile',
    device_brand: 'Apple',
    device_manufacturer: 'Apple',
    device_model: 'iPhone15,2',
    city: 'Zürich',
    region: 'ZH',
    country: 'Switzerland',
    dma: 'none',
    language: 'German',
    library: 'amplitude-swift/1.0',
    ip_address: '198.51.100.1',
    version_name: '5.1',
    start_version: '4.0',
    adid: 'ad-1',
    idfa: 'AEBE52E7-03EE-455A-B3C4-E57283966239',
    data_type: 'event',
    partner_id: 'p-1',
    source_id: 's-1',
    amplitude_event_type: 'identify',
    location_lat: '47.3769',
    location_lng: '8.5417',
    sample_rate: '0.25',
    paying: true,
    is_attribution_event: false,
    event_properties_exact: true,
    price_text: '19.90',
    qty_text: '1.0',
    user_properties: '{"plan": "EMPTY"}',
    group_properties: '{"org": {"tier": "gold"}}',
    groups: '{"org": ["a", "b"]}',
    data: '{"path": "/x"}',
    plan: '{"branch": "main", "version": "3"}',
    global_user_properties: '{"g": 1}',
    amplitude_attribution_ids: '"att-1"',
    extra: '{}',
  });
});

test('integers past 2^53 keep every digit in bigint columns and inside jsonb', async () => {
  const uuid = '22222222-2222-4222-8222-222222222222';
  const big = '123456789012345678901234567890';
  const line =
    `{"uuid":"${uuid}","event_time":"2024-03-01 06:00:00","amplitude_id":9223372036854775807,"session_id":-9223372036854775808,` +
    `"event_properties":{"big":${big},"edge":9007199254740993,"neg":-9007199254740993},"user_properties":{"list":[${big}]},"huge_unknown":${big}}`;
  await load('20240301T06', [line]);
  const r = await row(
    uuid,
    `amplitude_id::text, session_id::text, event_properties->>'big' AS big, event_properties->>'edge' AS edge,
     event_properties = '{"big":${big},"edge":9007199254740993,"neg":-9007199254740993}'::jsonb AS exact,
     user_properties = '{"list":[${big}]}'::jsonb AS list_exact, extra->>'huge_unknown' AS unknown`,
  );
  assert.deepEqual(r, {
    amplitude_id: '9223372036854775807',
    session_id: '-9223372036854775808',
    big,
    edge: '9007199254740993',
    exact: true,
    list_exact: true,
    unknown: big,
  });
});

test('timestamps keep their microseconds in every accepted form', async () => {
  const forms: [string, string][] = [
    ['2024-03-01 07:00:00.000001', '2024-03-01 07:00:00.000001'],
    ['2024-03-01 07:00:00.583000', '2024-03-01 07:00:00.583000'],
    ['2024-03-01 07:00:00', '2024-03-01 07:00:00.000000'],
    ['2024-03-01T07:00:00.123456Z', '2024-03-01 07:00:00.123456'],
    ['2024-03-01T09:30:00.999999+02:30', '2024-03-01 07:00:00.999999'],
    ['2024-03-01T02:00:00.5-05:00', '2024-03-01 07:00:00.500000'],
  ];
  const lines = forms.map(([text], i) => `{"uuid":"33333333-3333-4333-8333-33333333333${i}","event_time":"${text}"}`);
  await load('20240301T07', [lines.join('\n')]);
  for (const [i, [, expected]] of forms.entries()) {
    const r = await row(`33333333-3333-4333-8333-33333333333${i}`, TS('event_time'));
    assert.equal(r.event_time, expected, forms[i]?.[0]);
  }
});

test('NUL, lone surrogates and invalid UTF-8 become U+FFFD, the event loads and the hour counts them', async () => {
  const uuid = '44444444-4444-4444-8444-444444444444';
  const line = Buffer.concat([
    Buffer.from(String.raw`{"uuid":"${uuid}","event_time":"2024-03-01 08:00:00","user_id":"a\u0000b","event_properties":{"s":"\ud800x","n":"\u0000"},"city":"bad `),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('"}\n'),
  ]);
  const result = await load('20240301T08', [line]);
  assert.match(result.stdout, /sanitized values: +3/);
  const r = await row(uuid, `user_id, event_properties = '{"s":"\\ufffdx","n":"\\ufffd"}'::jsonb AS props, city`);
  assert.deepEqual(r, { user_id: 'a\uFFFDb', props: true, city: 'bad \uFFFD\uFFFD' });
  const { rows } = await fixtures.db.pool.query(`SELECT sanitized_values FROM amplitude_loader.upload_hours WHERE upload_hour = '2024-03-01 08:00Z'`);
  assert.equal(rows[0].sanitized_values, '3');
});

test('unknown top-level keys are kept in extra under their own names', async () => {
  const uuid = '55555555-5555-4555-8555-555555555555';
  const event = makeEvent({ uuid, event_time: '2024-03-01 09:00:00', brand_new_key: { deep: [1, 2] }, another: null, amplitude_id: 'abc' });
  await load('20240301T09', [ndjson([event])]);
  const r = await row(uuid, `extra = '{"$schema":12,"brand_new_key":{"deep":[1,2]},"another":null,"amplitude_id":"abc"}'::jsonb AS exact, amplitude_id`);
  assert.deepEqual(r, { exact: true, amplitude_id: null });
});

test('a rejected line goes to rejects with hour, entry, line and text; the rest of the hour loads', async () => {
  const good = makeEvent({ uuid: '66666666-6666-4666-8666-666666666666', event_time: '2024-03-01 10:00:00' });
  const result = await load('20240301T10', [ndjson([good, '{"broken": ', '{"event_time":"2024-03-01 10:00:00"}'])]);
  assert.match(result.stdout, /rejected lines: +2/);
  const { rows } = await fixtures.db.pool.query(
    `SELECT upload_hour = '2024-03-01 10:00Z' AS hour_ok, entry_name, line_number, reason, raw_line
       FROM amplitude_loader.rejects WHERE upload_hour = '2024-03-01 10:00Z' ORDER BY line_number`,
  );
  assert.deepEqual(rows, [
    { hour_ok: true, entry_name: amplitudeEntryName(187520, '20240301T10', 0), line_number: 2, reason: rows[0]?.reason, raw_line: '{"broken": ' },
    { hour_ok: true, entry_name: amplitudeEntryName(187520, '20240301T10', 0), line_number: 3, reason: 'no uuid', raw_line: '{"event_time":"2024-03-01 10:00:00"}' },
  ]);
  assert.match(rows[0]?.reason, /^invalid JSON/);
  await row('66666666-6666-4666-8666-666666666666', 'uuid');
});

test('parts without a final newline, plain .json entries, and non-event files all read right', async () => {
  const hour = '20240301T11';
  const a = makeEvent({ uuid: '77777777-7777-4777-8777-777777777771', event_time: '2024-03-01 11:00:00' });
  const b = makeEvent({ uuid: '77777777-7777-4777-8777-777777777772', event_time: '2024-03-01 11:00:00' });
  const c = makeEvent({ uuid: '77777777-7777-4777-8777-777777777773', event_time: '2024-03-01 11:00:00' });
  const zip = await buildZip(
    [
      { name: amplitudeEntryName(1, hour, 0), data: gzipPart(JSON.stringify(a)) },
      { name: amplitudeEntryName(1, hour, 1), data: gzipPart(JSON.stringify(b)) },
      { name: '1/plain.json', data: Buffer.from(JSON.stringify(c)) },
      { name: '1/README.txt', data: Buffer.from('not events') },
    ],
    ['1/'],
  );
  fixtures.api.archive(hour, zip);
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour]);
  assert.equal(result.code, 0, result.stderr);
  const { rows } = await fixtures.db.pool.query(`SELECT count(*)::int AS n FROM amplitude.events WHERE event_time = '2024-03-01 11:00Z'`);
  assert.equal(rows[0].n, 3);
  const { rows: state } = await fixtures.db.pool.query(`SELECT archive_entries, events_read::int FROM amplitude_loader.upload_hours WHERE upload_hour = '2024-03-01 11:00Z'`);
  assert.deepEqual(state, [{ archive_entries: 3, events_read: 3 }]);
});

test('a gzip part of several concatenated members reads as one', async () => {
  const hour = '20240301T13';
  const first = makeEvent({ uuid: '99999999-0000-4000-8000-000000000001', event_time: '2024-03-01 13:00:00' });
  const second = makeEvent({ uuid: '99999999-0000-4000-8000-000000000002', event_time: '2024-03-01 13:00:00' });
  const members = Buffer.concat([gzipPart(ndjson([first])), gzipPart(ndjson([second]))]);
  fixtures.api.archive(hour, await buildZip([{ name: amplitudeEntryName(1, hour, 0), data: members }]));
  const result = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', hour]);
  assert.equal(result.code, 0, result.stderr);
  await row('99999999-0000-4000-8000-000000000001', 'uuid');
  await row('99999999-0000-4000-8000-000000000002', 'uuid');
});
