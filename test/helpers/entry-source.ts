import type { EntrySource } from '../../src/transform/entry-lines.js';

/** An archive entry's provenance for transform tests, with what a test needs changed. */
export function entrySource(overrides: Partial<EntrySource> = {}): EntrySource {
  return {
    hourLabel: '20240301T05',
    project: 'default',
    uploadHour: '2024-03-01T05:00:00.000Z',
    loadedAt: '2026-12-05 00:00:00+00',
    entryName: 'p/p_2024-03-01_5#0.json.gz',
    entryNumber: 1,
    maxLineBytes: 64 * 1024 ** 2,
    ...overrides,
  };
}
