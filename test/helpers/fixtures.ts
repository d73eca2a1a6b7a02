import { after, before } from 'node:test';
import { createTestDatabase, type TestDatabase } from './database.js';
import { FakeExportApi } from './fake-export-api.js';

export interface LoaderFixtures {
  readonly db: TestDatabase;
  readonly api: FakeExportApi;
}

/**
 * Registers hooks that give the calling test file a database of its own and a fake Export API,
 * torn down after its last test. Read the fields inside tests, once `before` has run. Top-level
 * `before` hooks do not wait for each other, so further setup goes in `setup`, which runs after.
 */
export function useLoaderFixtures(setup?: (fixtures: LoaderFixtures) => Promise<void>): LoaderFixtures {
  let db: TestDatabase | undefined;
  let api: FakeExportApi | undefined;
  before(async () => {
    db = await createTestDatabase();
    api = await new FakeExportApi().start();
    await setup?.(fixtures);
  });
  after(async () => {
    await api?.close();
    await db?.drop();
  });
  const fixtures: LoaderFixtures = {
    get db() {
      if (!db) throw new Error('the database exists once before() has run');
      return db;
    },
    get api() {
      if (!api) throw new Error('the fake Export API runs once before() has run');
      return api;
    },
  };
  return fixtures;
}
