/**
 * Text rewritten from a source: runs of it copied, characters put in between, and, for COPY, every
 * backslash, newline, carriage return and tab escaped on the way in (so a long value is written once,
 * not rewritten and then escaped). Small texts are joined as strings; past LARGE_TEXT characters a
 * TextBuilder writes into one buffer instead, so a value with millions of escapes costs a byte or two
 * per character rather than a string object per piece.
 */
export interface OutputText {
  /** Copies source[from, to). */
  range(source: string, from: number, to: number): void;
  code(code: number): void;
  text(): string;
  /** The text as UTF-8 bytes without a copy, when it was built in a buffer and is all ASCII; else undefined. */
  asciiBytes(): Buffer | undefined;
}

const LARGE_TEXT = 64 * 1024;
const BACKSLASH = 92;

// The letter after the backslash for each character COPY escapes, by character code; 0: none.
const COPY_ESCAPE_LETTER = new Uint8Array(128);
COPY_ESCAPE_LETTER[BACKSLASH] = BACKSLASH;
COPY_ESCAPE_LETTER[10] = 110;
COPY_ESCAPE_LETTER[13] = 114;
COPY_ESCAPE_LETTER[9] = 116;

const COPY_ESCAPABLE = /[\\\n\r\t]/g;
const COPY_ESCAPED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` escaped for a COPY text field (the short way, for short texts). */
export function escapeForCopy(text: string): string {
  return text.replace(COPY_ESCAPABLE, (c) => COPY_ESCAPED[c] as string);
}

class PieceBuilder implements OutputText {
  private out = '';

  constructor(private readonly forCopy: boolean) {}

  range(source: string, from: number, to: number): void {
    if (to > from) this.out += source.slice(from, to);
  }
  code(code: number): void {
    this.out += String.fromCharCode(code);
  }
  text(): string {
    return this.forCopy ? escapeForCopy(this.out) : this.out;
  }
  asciiBytes(): undefined {
    return undefined;
  }
}

class TextBuilder implements OutputText {
  // One byte per character while every character fits in one (JSON rewritten is nearly always
  // ASCII), two from the first that does not: the text comes out as compact as V8 would keep it.
  private narrow: Uint8Array | undefined;
  private wide: Uint16Array | undefined;
  private length = 0;
  private highest = 0;

  constructor(
    capacity: number,
    private readonly forCopy: boolean,
  ) {
    this.narrow = new Uint8Array(capacity);
  }

  /** Room for `more` characters, two bytes each from a character that needs them. */
  private reserve(more: number, code: number): void {
    const needed = this.length + more;
    if (this.narrow !== undefined && code > 0xff) {
      this.wide = new Uint16Array(Math.max(this.narrow.length, needed));
      this.wide.set(this.narrow.subarray(0, this.length));
      this.narrow = undefined;
    }
    const buffer = (this.narrow ?? this.wide) as Uint8Array | Uint16Array;
    if (needed <= buffer.length) return;
    const size = Math.max(Math.ceil(buffer.length * 1.5), needed);
    const grown = this.narrow !== undefined ? new Uint8Array(size) : new Uint16Array(size);
    grown.set(buffer.subarray(0, this.length));
    if (this.narrow !== undefined) this.narrow = grown as Uint8Array;
    else this.wide = grown as Uint16Array;
  }

  private put(code: number): void {
    if (code > this.highest) this.highest = code;
    const letter = this.forCopy && code < 128 ? (COPY_ESCAPE_LETTER[code] as number) : 0;
    const buffer = (this.narrow ?? this.wide) as Uint8Array | Uint16Array;
    if (letter === 0) {
      buffer[this.length++] = code;
    } else {
      buffer[this.length++] = BACKSLASH;
      buffer[this.length++] = letter;
    }
  }

  range(source: string, from: number, to: number): void {
    if (to <= from) return;
    // Escaping can double a run: reserved up front, so the loops only write.
    this.reserve((to - from) * (this.forCopy ? 2 : 1), 0);
    let i = from;
    if (this.narrow !== undefined) {
      // The common case in one tight loop, its state in locals.
      const out = this.narrow;
      const forCopy = this.forCopy;
      let n = this.length;
      let highest = this.highest;
      for (; i < to; i++) {
        const c = source.charCodeAt(i);
        if (c > 0xff) break;
        if (c > highest) highest = c;
        const letter = forCopy && c < 128 ? (COPY_ESCAPE_LETTER[c] as number) : 0;
        if (letter === 0) {
          out[n++] = c;
        } else {
          out[n++] = BACKSLASH;
          out[n++] = letter;
        }
      }
      this.length = n;
      this.highest = highest;
      if (i === to) return;
      this.reserve((to - i) * (this.forCopy ? 2 : 1), 0x100);
    }
    for (; i < to; i++) this.put(source.charCodeAt(i));
  }

  code(code: number): void {
    this.reserve(2, code);
    this.put(code);
  }

  asciiBytes(): Buffer | undefined {
    if (this.narrow === undefined || this.highest >= 0x80) return undefined;
    return Buffer.from(this.narrow.buffer, this.narrow.byteOffset, this.length);
  }

  text(): string {
    if (this.narrow !== undefined) return Buffer.from(this.narrow.buffer, this.narrow.byteOffset, this.length).toString('latin1');
    const wide = this.wide as Uint16Array;
    return Buffer.from(wide.buffer, wide.byteOffset, this.length * 2).toString('utf16le');
  }
}

/**
 * The builder for a text of about `size` characters; with `forCopy`, what it is given comes out
 * escaped for a COPY text field.
 */
export function newOutputText(size: number, forCopy = false): OutputText {
  return size > LARGE_TEXT ? new TextBuilder(size, forCopy) : new PieceBuilder(forCopy);
}
