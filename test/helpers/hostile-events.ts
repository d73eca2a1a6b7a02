import { SeededRandom } from '../../src/demo/seeded-random.js';

/**
 * Whole hours of export lines whose every field is drawn from hostile distributions: text of every
 * length from empty up, in several scripts, with control characters, escapes and lone surrogates;
 * every JSON type in every typed column; every time the accepted forms can write, in any year, with
 * any offset; huge and deep dicts; invalid UTF-8; lines that are not events at all. Seeded: a seed is
 * a reproducible hour.
 */
export interface HostileLine {
  readonly bytes: Buffer;
  /** A JSON object with a readable uuid and time: it must become a row (kept, or a dropped duplicate). */
  readonly event: boolean;
}

const SCRIPTS = [
  () => 'click',
  () => 'Ünïcödé ßtraße',
  () => '中文事件名称',
  () => '😀🎉👩‍👩‍👧',
  () => 'حدث عربي',
  () => 'e\u0301\u0302\u0303',
  () => '\u202e\u200f\u2066bidi',
];
const ESCAPES = ['\\u0000', '\\ud800', '\\udc00', '\\ud83d\\ude00', '\\n', '\\r', '\\t', '\\"', '\\\\', '\\u001b[2K', '\\u0007', '\\u2028'];
const RAW_CONTROLS = ['\u0001', '\u0007', '\u001b', '\t', '\r', '\u007f', '\u0085'];

function text(random: SeededRandom, maxLength: number): string {
  const length = random.pick([0, 1, 3, 20, 200, 3000, maxLength]);
  let out = '';
  while (out.length < length) out += random.pick(SCRIPTS)();
  return out.slice(0, length);
}

/** A JSON string literal of hostile text: escapes and raw control characters mixed in. */
function hostileString(random: SeededRandom, maxLength: number): string {
  const plain = JSON.stringify(text(random, maxLength)).slice(1, -1);
  const extra = random.int(4) === 0 ? Array.from({ length: 1 + random.int(5) }, () => random.pick(ESCAPES)).join('') : '';
  const raw = random.int(6) === 0 ? random.pick(RAW_CONTROLS) : '';
  return `"${extra}${plain}${raw}"`;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** A time in one of the accepted forms, any year, any offset; sometimes one no form accepts. */
function hostileTime(random: SeededRandom): string {
  const year = random.pick([1, 2, 1969, 1970, 2009, 2010, 2024, 2039, 2040, 2099, 9998, 9999, 1 + random.int(9999)]);
  const month = 1 + random.int(12);
  const day = random.pick([1, 15, 28, month === 2 ? 28 : 30, 31]);
  const time = `${pad(random.int(24), 2)}:${pad(random.int(60), 2)}:${pad(random.int(60), 2)}`;
  const fraction = random.pick(['', '.5', '.583000', '.123456', '.1234567', '.1234560']);
  const zone = random.pick(['', 'Z', '+00:00', '-01:00', '+14:00', '-12:00', '+05:30', '-0130', '+09']);
  const date = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
  return random.pick([`${date} ${time}${fraction}`, `${date}T${time}${fraction}${zone}`, `${date} ${time}`, 'not a time', '']);
}

/** Any JSON value, nested up to `depth`. */
function anyValue(random: SeededRandom, depth: number): string {
  switch (random.int(depth > 0 ? 9 : 6)) {
    case 0:
      return 'null';
    case 1:
      return random.pick(['true', 'false']);
    case 2:
      return random.pick(['0', '-1', '9223372036854775807', '9223372036854775808', '-9223372036854775809', '123456789012345678901234567890', '1.0', '1e-7', '-0.0', '1e400', '1e999999', '37.7749']);
    case 3:
    case 4:
      return hostileString(random, 100);
    case 5:
      return random.pick(['"true"', '"12"', '"-1"', '"abc"', '""']);
    case 6:
      return `[${Array.from({ length: random.int(4) }, () => anyValue(random, depth - 1)).join(',')}]`;
    default:
      return `{${Array.from({ length: random.int(4) }, () => `${hostileString(random, 20)}:${anyValue(random, depth - 1)}`).join(',')}}`;
  }
}

function hostileDict(random: SeededRandom): string {
  switch (random.int(6)) {
    case 0:
      return `${'['.repeat(900)}1${']'.repeat(900)}`;
    case 1:
      return `{${Array.from({ length: 2000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    case 2:
      return `{"big":${hostileString(random, 100_000)}}`;
    default:
      return anyValue(random, 4);
  }
}

const TEXT_COLUMNS = ['event_type', 'user_id', 'device_id', 'platform', 'os_name', 'country', 'city', 'language', '$insert_id', 'library', 'version_name'];
const TYPED_COLUMNS = ['app', 'amplitude_id', 'session_id', 'event_id', 'location_lat', 'location_lng', 'sample_rate', 'paying', 'is_attribution_event'];
const TIME_COLUMNS = ['client_event_time', 'server_upload_time', 'server_received_time', 'client_upload_time', 'processed_time', 'user_creation_time'];
const DICT_COLUMNS = ['event_properties', 'user_properties', 'group_properties', 'groups', 'data', 'plan'];

/** One hour of `count` hostile lines. */
export function hostileHour(seed: number, count: number): HostileLine[] {
  const random = new SeededRandom(seed);
  const uuids: string[] = [];
  const lines: HostileLine[] = [];
  for (let n = 0; n < count; n++) {
    const kind = random.int(20);
    if (kind === 0) {
      lines.push({ bytes: Buffer.from(random.pick(['not json', '[1,2]', '"a string"', '{"uuid":', '{}', '{"uuid":"not-a-uuid","event_time":"2024-03-01 05:00:00"}'])), event: false });
      continue;
    }
    // A uuid seen before in the hour sometimes: its copies are deduplicated.
    const uuid = uuids.length > 0 && random.int(10) === 0 ? random.pick(uuids) : random.uuid();
    uuids.push(uuid);
    const fields: string[] = [`"uuid":"${uuid}"`];
    fields.push(`"event_time":${random.int(10) === 0 ? anyValue(random, 1) : JSON.stringify(hostileTime(random))}`);
    // A fallback that is always readable, so every such line has a time.
    fields.push(`"server_upload_time":"2024-03-01 05:${pad(random.int(60), 2)}:00.000000"`);
    for (const column of TEXT_COLUMNS) if (random.int(3) > 0) fields.push(`"${column}":${random.int(5) === 0 ? anyValue(random, 1) : hostileString(random, 5000)}`);
    for (const column of TYPED_COLUMNS) if (random.int(2) === 0) fields.push(`"${column}":${anyValue(random, 1)}`);
    for (const column of TIME_COLUMNS.slice(0, 1)) if (random.int(2) === 0) fields.push(`"${column}":${JSON.stringify(hostileTime(random))}`);
    for (const column of DICT_COLUMNS) if (random.int(2) === 0) fields.push(`"${column}":${hostileDict(random)}`);
    for (let i = random.int(4); i > 0; i--) fields.push(`${hostileString(random, 30)}:${anyValue(random, 2)}`);
    let bytes = Buffer.from(`{${fields.join(',')}}`);
    if (random.int(8) === 0) {
      // Invalid UTF-8 somewhere after the uuid.
      bytes = Buffer.from(bytes);
      const at = 50 + random.int(Math.max(1, bytes.length - 52));
      bytes[at] = random.pick([0xff, 0xc3, 0x80, 0xed]);
      // A byte that breaks the JSON itself makes the line a reject; which is fine, but then not an event.
      lines.push({ bytes, event: validJson(bytes) });
      continue;
    }
    lines.push({ bytes, event: true });
  }
  return lines;
}

/** Whether the bytes, decoded leniently as the loader decodes them, still parse. */
function validJson(bytes: Buffer): boolean {
  try {
    JSON.parse(new TextDecoder().decode(bytes));
    return true;
  } catch {
    return false;
  }
}
