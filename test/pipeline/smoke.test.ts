import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { makeEvent } from '../helpers/events.js';
import { FakeExportApi } from '../helpers/fake-export-api.js';

let db: TestDatabase;
let api: FakeExportApi;
before(async () => {
  db = await createTestDatabase();
  api = await new FakeExportApi().start();
});
after(async () => {
  await api.close();
  await db.drop();
});

test('smoke', async () => {
  const events = [makeEvent(), makeEvent()];
  api.archive('20240301T05', await hourArchive('20240301T05', [ndjson(events)]));
  const result = await runCli(['load', '--range', '20240301T04..20240301T05', '--retry-delay-ms', '10'], {
    AMPLITUDE_API_KEY: 'test-api-key',
    AMPLITUDE_SECRET_KEY: 'test-secret-key',
    AMPLITUDE_EXPORT_URL: api.url,
    DATABASE_URL: db.url,
  });
  console.log(result.stdout, result.stderr);
  assert.equal(result.code, 0);
  const { rows } = await db.pool.query('SELECT * FROM amplitude.events');
  console.log(rows);
  assert.equal(rows.length, 2);
});
