/**
 * UTF-8 decoding that reports where it replaced invalid bytes by U+FFFD, so the loader can count
 * those values as sanitized. Replaces exactly as the WHATWG decoder (TextDecoder) does.
 */
export interface DecodedText {
  readonly text: string;
  /** UTF-16 indexes in `text` of each U+FFFD that stands for invalid input. */
  readonly replacedAt: number[];
}

export function decodeUtf8Lossy(bytes: Uint8Array): DecodedText {
  const units: number[] = [];
  const replacedAt: number[] = [];
  let codePoint = 0;
  let bytesNeeded = 0;
  let bytesSeen = 0;
  let lower = 0x80;
  let upper = 0xbf;
  const replace = () => {
    replacedAt.push(units.length);
    units.push(0xfffd);
  };
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (bytesNeeded === 0) {
      if (byte <= 0x7f) {
        units.push(byte);
      } else if (byte >= 0xc2 && byte <= 0xdf) {
        bytesNeeded = 1;
        codePoint = byte & 0x1f;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) lower = 0xa0;
        if (byte === 0xed) upper = 0x9f;
        bytesNeeded = 2;
        codePoint = byte & 0x0f;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) lower = 0x90;
        if (byte === 0xf4) upper = 0x8f;
        bytesNeeded = 3;
        codePoint = byte & 0x07;
      } else {
        replace();
      }
      continue;
    }
    if (byte < lower || byte > upper) {
      // The sequence so far is invalid; this byte starts afresh.
      codePoint = bytesNeeded = bytesSeen = 0;
      lower = 0x80;
      upper = 0xbf;
      replace();
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    codePoint = (codePoint << 6) | (byte & 0x3f);
    if (++bytesSeen === bytesNeeded) {
      if (codePoint > 0xffff) {
        const offset = codePoint - 0x10000;
        units.push(0xd800 + (offset >> 10), 0xdc00 + (offset & 0x3ff));
      } else {
        units.push(codePoint);
      }
      codePoint = bytesNeeded = bytesSeen = 0;
    }
  }
  if (bytesNeeded !== 0) replace();
  let text = '';
  for (let i = 0; i < units.length; i += 8192) text += String.fromCharCode(...units.slice(i, i + 8192));
  return { text, replacedAt };
}
