/**
 * UTF-8 decoding that says where it replaced invalid bytes by U+FFFD, so the loader can count those
 * values as sanitized. Replaces exactly as the WHATWG decoder (TextDecoder) does, which it uses; its
 * cost is linear in the bytes, and it keeps no structure per byte.
 */
export interface DecodedText {
  readonly text: string;
  /**
   * Which U+FFFD stand for invalid input: `every` one in the text (the input held no U+FFFD of its
   * own), or those at these UTF-16 indexes, ascending.
   */
  readonly replaced: 'every' | Int32Array;
}

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const REPLACEMENT_BYTES = Buffer.from('\uFFFD');

export function decodeUtf8Lossy(bytes: Uint8Array): DecodedText {
  const text = decoder.decode(bytes);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(REPLACEMENT_BYTES) < 0) return { text, replaced: 'every' };
  return { text, replaced: replacementIndexes(bytes) };
}

/**
 * The UTF-16 indexes of the replacements TextDecoder makes in `bytes`: its state machine (WHATWG
 * Encoding, "UTF-8 decoder") walked without producing text.
 */
function replacementIndexes(bytes: Uint8Array): Int32Array {
  let found = new Int32Array(16);
  let count = 0;
  let units = 0;
  const replace = () => {
    if (count === found.length) {
      const grown = new Int32Array(found.length * 2);
      grown.set(found);
      found = grown;
    }
    found[count++] = units++;
  };
  let needed = 0;
  let seen = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (needed === 0) {
      if (byte <= 0x7f) units++;
      else if (byte >= 0xc2 && byte <= 0xdf) needed = 1;
      else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) lower = 0xa0;
        if (byte === 0xed) upper = 0x9f;
        needed = 2;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) lower = 0x90;
        if (byte === 0xf4) upper = 0x8f;
        needed = 3;
      } else replace();
      continue;
    }
    if (byte < lower || byte > upper) {
      // The sequence so far is invalid; this byte starts afresh.
      needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      replace();
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    if (++seen === needed) {
      units += needed === 3 ? 2 : 1;
      needed = seen = 0;
    }
  }
  if (needed !== 0) replace();
  return found.subarray(0, count);
}

/**
 * Answers, for ranges of a decoded line taken in ascending order, whether a replacement lies in them.
 * Every question moves forward only, so a line's questions together cost one pass over it.
 */
export class ReplacementCursor {
  private next = -2;
  private at = 0;

  constructor(
    private readonly text: string,
    private readonly replaced: 'every' | Int32Array | undefined,
    /** Subtracted from the stored indexes: characters dropped from the front of the text (a byte order mark). */
    private readonly shift = 0,
  ) {}

  /** Whether a replacement lies in [start, end); `start` never goes below an earlier question's. */
  within(start: number, end: number): boolean {
    const replaced = this.replaced;
    if (replaced === undefined) return false;
    if (replaced === 'every') {
      // -2: not searched yet; -1: none left.
      if (this.next === -2 || (this.next >= 0 && this.next < start)) this.next = this.text.indexOf('\uFFFD', start);
      return this.next >= 0 && this.next < end;
    }
    while (this.at < replaced.length && (replaced[this.at] as number) - this.shift < start) this.at++;
    return this.at < replaced.length && (replaced[this.at] as number) - this.shift < end;
  }
}
