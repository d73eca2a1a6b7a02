/**
 * Text from outside (entry names, answer bodies and headers, database messages, values) reaches the
 * terminal and the logs through these, so it can never move the cursor, clear a line, start a new
 * one or reorder what is shown: a forged "hour … loaded" line is impossible.
 */

// C0 controls (LF and CR included), DEL, C1 controls (U+009B is a CSI on its own), the line and
// paragraph separators, the bidirectional controls and unpaired surrogates.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeCharacter(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One line's worth of text, with everything a terminal would act on shown as an escape (`\n`, `\x1b`, `\u{202e}`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeCharacter);
}

// What JSON.stringify leaves raw that a terminal showing the log still acts on.
const JSON_UNPRINTABLE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON of a value on one line, with every character a terminal would act on written as a `\uXXXX` escape. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
