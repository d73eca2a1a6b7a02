/**
 * A worker thread that runs encodeEntryLines for one archive entry at a time (transform-threads.ts
 * sends the entries). Its input and output are windowed: it asks for a chunk only as it reads one and
 * stops after OUTPUT_WINDOW batches nobody has taken, so an hour's size never piles up on either side.
 */
import { parentPort } from 'node:worker_threads';
import { zeroCounters, type LineCounters } from '../counters.js';
import { LimitExceededError } from '../errors.js';
import { encodeEntryLines, type EntrySource } from './entry-lines.js';
import { OUTPUT_WINDOW, type FromThread, type ThreadFailure, type ToThread } from './thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('transform-thread.js runs as a worker thread');

let chunks: Buffer[] = [];
let inputEnded = false;
let wakeInput: (() => void) | undefined;
let batchesUntaken = 0;
let wakeOutput: (() => void) | undefined;

function post(message: FromThread, transfer: ArrayBuffer[] = []): void {
  (port as NonNullable<typeof port>).postMessage(message, transfer);
}

async function* input(): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = chunks.shift();
    if (chunk !== undefined) {
      post({ type: 'chunkRead' });
      yield chunk;
    } else if (inputEnded) {
      return;
    } else {
      await new Promise<void>((resolve) => (wakeInput = resolve));
    }
  }
}

/** The counts since the last report, reset. */
function takeCounts(counters: LineCounters): LineCounters {
  const counted = { eventsRead: counters.eventsRead, rejectedLines: counters.rejectedLines, sanitizedValues: counters.sanitizedValues };
  counters.eventsRead = counters.rejectedLines = counters.sanitizedValues = 0;
  return counted;
}

function failure(error: unknown): ThreadFailure {
  if (error instanceof LimitExceededError) {
    return { kind: 'limit', context: { hour: error.hour as string, entry: error.entry, line: error.line }, what: error.what, flag: error.flag, limit: error.limit };
  }
  return error instanceof Error ? { kind: 'other', message: error.message, stack: error.stack } : { kind: 'other', message: String(error), stack: undefined };
}

/**
 * A batch's rows as UTF-8 in buffers that can be handed over without a copy: runs of text written
 * into one buffer of their own (not a slice of Node's shared pool), a long value's bytes as they are
 * (their memory is theirs alone, EncodedBatch says), so a line of many megabytes is never copied here.
 */
function eventBytes(pieces: readonly (string | Buffer)[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let text = '';
  const endText = () => {
    if (text.length === 0) return;
    const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
    bytes.write(text);
    parts.push(bytes);
    text = '';
  };
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      text += piece;
    } else {
      endText();
      parts.push(piece);
    }
  }
  endText();
  return parts;
}

async function encode(source: EntrySource): Promise<void> {
  const counters = zeroCounters();
  try {
    for await (const batch of encodeEntryLines(input(), source, counters)) {
      const events = eventBytes(batch.events);
      batchesUntaken++;
      const transfer = events.map((bytes) => bytes.buffer as ArrayBuffer);
      post({ type: 'batch', events, keys: batch.keys, rejects: batch.rejects, months: [...batch.months], counted: takeCounts(counters) }, transfer);
      while (batchesUntaken >= OUTPUT_WINDOW) await new Promise<void>((resolve) => (wakeOutput = resolve));
    }
    post({ type: 'done', counted: takeCounts(counters) });
  } catch (error) {
    post({ type: 'failed', failure: failure(error), counted: takeCounts(counters) });
  }
}

port.on('message', (message: ToThread) => {
  switch (message.type) {
    case 'start':
      chunks = [];
      inputEnded = false;
      batchesUntaken = 0;
      void encode(message.source);
      break;
    case 'chunk':
      chunks.push(Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength));
      wakeInput?.();
      break;
    case 'end':
      inputEnded = true;
      wakeInput?.();
      break;
    case 'batchTaken':
      batchesUntaken--;
      wakeOutput?.();
      break;
  }
});
