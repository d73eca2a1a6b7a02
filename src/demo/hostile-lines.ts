import { SeededRandom } from './seeded-random.js';

/**
 * Export lines made of one kind of content each, at any size: what a hostile or broken exporter can
 * put in a line. The tests check that the transform's work grows linearly with every kind; the bench
 * times each (`npm run bench -- --lines`).
 */
export type LineKind =
  | 'plain text'
  | 'string escapes'
  | 'raw control bytes'
  | 'invalid UTF-8, rare'
  | 'invalid UTF-8, dense'
  | 'invalid UTF-8 at the end'
  | 'multi-byte characters'
  | 'deep nesting'
  | 'many keys'
  | 'huge numbers'
  | 'long typed text';

export const LINE_KINDS: readonly LineKind[] = [
  'plain text',
  'string escapes',
  'raw control bytes',
  'invalid UTF-8, rare',
  'invalid UTF-8, dense',
  'invalid UTF-8 at the end',
  'multi-byte characters',
  'deep nesting',
  'many keys',
  'huge numbers',
  'long typed text',
];

// Every form a JSON string escape takes: \uXXXX, a surrogate pair, lone surrogates, the short escapes.
// An escaped quote comes once, at the start: a scanner that searches for the closing quote again after
// each escape then searches to the end of the string every time.
const ESCAPES = ['\\u00e9', '\\ud83d\\ude00', '\\ud800', '\\udfff', '\\u0000', '\\n', '\\\\', '\\/', '\\t', '\\b', '\\f', '\\r', 'x'];
const MULTI_BYTE = ['é', 'ß', '中', '文', '字', '😀', '𝄞', 'ا', 'ह'];

/** The text of `kind`, about `bytes` long, repeating `piece()`. */
function repeat(bytes: number, piece: () => string): string {
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    const next = piece();
    parts.push(next);
    length += Buffer.byteLength(next);
  }
  return parts.join('');
}

/** One line of `kind`, about `bytes` long, its uuid numbered `n`; the same seed gives the same line. */
export function hostileLine(kind: LineKind, bytes: number, n: number, seed = 1): Buffer {
  const random = new SeededRandom(seed + n);
  const uuid = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const head = `{"uuid":"${uuid}","event_time":"2024-03-01 05:${String(n % 60).padStart(2, '0')}:00.000000","amplitude_id":${1000 + (n % 7)},"platform":"Web"`;
  const line = (rest: string) => Buffer.from(`${head},${rest}}`);
  switch (kind) {
    case 'plain text':
      return line(`"event_properties":{"text":"${repeat(bytes, () => 'lorem ipsum dolor sit amet ')}"}`);
    case 'string escapes':
      return line(`"event_properties":{"text":"\\"${repeat(bytes, () => random.pick(ESCAPES))}"}`);
    case 'raw control bytes':
      return line(`"event_properties":{"text":"${repeat(bytes, () => String.fromCharCode(1 + random.int(9)) + 'a')}"}`);
    case 'invalid UTF-8, rare':
    case 'invalid UTF-8, dense':
    case 'invalid UTF-8 at the end': {
      const text = Buffer.from(repeat(bytes, () => 'abcdefgh'));
      if (kind === 'invalid UTF-8, rare') for (let i = 0; i < text.length; i += 65_536) text[i] = 0xff;
      if (kind === 'invalid UTF-8, dense') for (let i = 0; i < text.length; i += 2) text[i] = random.pick([0xff, 0xc3, 0xe2, 0xf0, 0x80]);
      if (kind === 'invalid UTF-8 at the end') text[text.length - 1] = 0xc3;
      return Buffer.concat([Buffer.from(`${head},"event_properties":{"text":"`), text, Buffer.from('"}}')]);
    }
    case 'multi-byte characters':
      return line(`"event_properties":{"text":"${repeat(bytes, () => random.pick(MULTI_BYTE))}"}`);
    case 'deep nesting': {
      const nest = `${'['.repeat(900)}1${']'.repeat(900)}`;
      return line(`"event_properties":{"deep":[${repeat(bytes, () => `${nest},`)}0]}`);
    }
    case 'many keys':
      return line(repeat(bytes, () => `"k${random.int(1_000_000_000)}":${random.int(100)},`).slice(0, -1));
    case 'huge numbers':
      return line(`"event_properties":{"n":[${repeat(bytes, () => `${random.pick(['1e999999', '-1.5e-99999', '12345678901234567890123456789', '0.000000000000000000001'])},`)}0]}`);
    case 'long typed text':
      return line(`"event_type":"${repeat(bytes / 2, () => 'click ')}","device_id":"${repeat(bytes / 2, () => 'd')}"`);
  }
}
