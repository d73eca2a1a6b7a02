/**
 * The transform on worker threads: on a machine with cores to spare, each archive entry's lines are
 * scanned and encoded by a thread of its own while the main thread only moves bytes (reading the
 * archive, writing COPY). The same encodeEntryLines runs there, so the rows are the same bytes.
 */
import { Worker } from 'node:worker_threads';
import type { LineCounters } from '../counters.js';
import { LimitExceededError } from '../errors.js';
import { encodeEntryLines, type EncodedBatch, type EntrySource } from './entry-lines.js';
import { INPUT_WINDOW, type FromThread, type ThreadFailure, type ToThread } from './thread-messages.js';

/** Turns an entry's decompressed chunks into COPY batches; counts lines into `counters` as it goes. */
export type EntryTransform = (chunks: AsyncIterable<Buffer>, source: EntrySource, counters: LineCounters) => AsyncIterable<EncodedBatch>;

/** The transform on the calling thread. */
export const transformInProcess: EntryTransform = encodeEntryLines;

const THREAD_SCRIPT = new URL('./transform-thread.js', import.meta.url);

function addCounts(counters: LineCounters, counted: LineCounters): void {
  counters.eventsRead += counted.eventsRead;
  counters.rejectedLines += counted.rejectedLines;
  counters.sanitizedValues += counted.sanitizedValues;
}

function errorOf(failure: ThreadFailure): Error {
  if (failure.kind === 'limit') return new LimitExceededError(failure.context, failure.what, failure.flag, failure.limit);
  // The message as the run log prints it, one line; the thread's stack kept for whoever debugs it.
  const error = new Error(`the transform thread failed: ${failure.message}`);
  if (failure.stack !== undefined) error.stack = failure.stack;
  return error;
}

/** One thread's messages, in order, to await one at a time. */
class Inbox {
  private readonly queue: (FromThread | Error)[] = [];
  private wake: (() => void) | undefined;

  put(message: FromThread | Error): void {
    this.queue.push(message);
    this.wake?.();
  }

  async take(): Promise<FromThread | Error> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.queue.shift() as FromThread | Error;
  }
}

class TransformThread {
  readonly worker = new Worker(THREAD_SCRIPT);
  inbox = new Inbox();
  alive = true;

  constructor() {
    this.worker.on('message', (message: FromThread) => this.inbox.put(message));
    this.worker.on('error', (error) => this.inbox.put(new Error(`the transform thread failed: ${error.message}`)));
    this.worker.on('exit', (code) => {
      this.alive = false;
      this.inbox.put(new Error(`the transform thread exited (code ${code})`));
    });
  }

  post(message: ToThread, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }
}

/**
 * Up to `size` threads, started as entries need them and kept for the next; an entry waits for a
 * free one. A thread whose entry ended any other way than read to the end is ended with it.
 */
export class TransformThreads {
  private readonly idle: TransformThread[] = [];
  private readonly waiting: ((thread: TransformThread) => void)[] = [];
  private started = 0;
  private closed = false;

  constructor(readonly size: number) {}

  readonly transform: EntryTransform = (chunks, source, counters) => this.encode(chunks, source, counters);

  private async acquire(): Promise<TransformThread> {
    if (this.closed) throw new Error('the transform threads are closed');
    const thread = this.idle.pop();
    if (thread !== undefined && thread.alive) return thread;
    if (thread !== undefined) this.started--;
    if (this.started < this.size) {
      this.started++;
      return new TransformThread();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(thread: TransformThread, reusable: boolean): void {
    if (!reusable) {
      void thread.worker.terminate();
      this.started--;
      if (this.waiting.length > 0 && !this.closed) {
        this.started++;
        this.waiting.shift()?.(new TransformThread());
      }
      return;
    }
    const next = this.waiting.shift();
    if (next !== undefined) next(thread.alive ? thread : new TransformThread());
    else if (this.closed) void thread.worker.terminate();
    else {
      // An idle thread does not keep the process alive.
      thread.worker.unref();
      this.idle.push(thread);
    }
  }

  private async *encode(chunks: AsyncIterable<Buffer>, source: EntrySource, counters: LineCounters): AsyncGenerator<EncodedBatch> {
    const thread = await this.acquire();
    thread.inbox = new Inbox();
    thread.worker.ref();
    let finished = false;
    let stopped = false;
    let chunksUnread = 0;
    let wakeFeeder: (() => void) | undefined;
    const feed = async () => {
      try {
        for await (const chunk of chunks) {
          while (chunksUnread >= INPUT_WINDOW && !stopped) await new Promise<void>((resolve) => (wakeFeeder = resolve));
          if (stopped) return;
          // A copy of its own to hand over: a decompressed chunk may share its memory with others.
          const bytes = new Uint8Array(chunk);
          chunksUnread++;
          thread.post({ type: 'chunk', bytes }, [bytes.buffer]);
        }
        if (!stopped) thread.post({ type: 'end' });
      } catch (error) {
        thread.inbox.put(error instanceof Error ? error : new Error(String(error)));
      }
    };
    thread.post({ type: 'start', source });
    const feeding = feed();
    try {
      for (;;) {
        const message = await thread.inbox.take();
        if (message instanceof Error) throw message;
        if (message.type === 'chunkRead') {
          chunksUnread--;
          wakeFeeder?.();
          continue;
        }
        addCounts(counters, message.counted);
        if (message.type === 'failed') throw errorOf(message.failure);
        if (message.type === 'done') break;
        const events = message.events.map((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        yield { events, keys: message.keys, rejects: message.rejects, months: new Set(message.months) };
        thread.post({ type: 'batchTaken' });
      }
      finished = true;
    } finally {
      stopped = true;
      wakeFeeder?.();
      this.release(thread, finished);
      await feeding;
    }
  }

  /** Ends every thread; entries under way fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((thread) => thread.worker.terminate()));
  }
}
