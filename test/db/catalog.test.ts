import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CATALOG } from '../../src/db/catalog.js';
import { registerProject } from '../../src/state/projects.js';
import { columnTypes, dataDictionary, dbtSources } from '../../src/db/catalog-documents.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
before(async () => (db = await createTestDatabase()));
after(async () => db.drop());

const repoFile = (path: string) => readFile(fileURLToPath(new URL(`../../../${path}`, import.meta.url)), 'utf8');

test('every table, view and column of both schemas has a comment, and the catalog names nothing that does not exist', async () => {
  // A second project's keys table is commented as it is created.
  await registerProject(db.pool, { schema: 'amplitude', project: 'web' });
  const { rows } = await db.pool.query<{ relation: string; column: string | null; comment: string | null }>(
    `SELECT c.relname AS relation, NULL AS column, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c
      WHERE c.relnamespace IN ('amplitude'::regnamespace, 'amplitude_loader'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
     UNION ALL
     SELECT c.relname, a.attname, col_description(c.oid, a.attnum)
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relnamespace IN ('amplitude'::regnamespace, 'amplitude_loader'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition`,
  );
  const missing = rows.filter((r) => !r.comment).map((r) => (r.column ? `${r.relation}.${r.column}` : r.relation));
  assert.deepEqual(missing, [], 'add these to src/db/catalog.ts');
  const keyTables = [...new Set(rows.map((r) => r.relation).filter((r) => /^event_keys_\d+$/.test(r)))].sort();
  assert.deepEqual(keyTables, ['event_keys_1', 'event_keys_2'], 'one keys table per project');
  const relation = (name: string) => name.replace(/^event_keys_\d+$/, 'event_keys');
  const existing = new Set(rows.map((r) => (r.column ? `${relation(r.relation)}.${r.column}` : relation(r.relation))));
  const named = CATALOG.flatMap((r) => [r.name, ...Object.keys(r.columns).map((c) => `${r.name}.${c}`)]);
  assert.deepEqual(named.filter((n) => !existing.has(n)), []);
});

test('the data dictionary and the dbt sources in the repo are what the catalog generates (npm run catalog)', async () => {
  assert.equal(await repoFile('DATA_DICTIONARY.md'), dataDictionary('amplitude', await columnTypes(db.pool, 'amplitude')), 'run: npm run catalog -- --format markdown > DATA_DICTIONARY.md');
  assert.equal(await repoFile('sql/dbt/sources.yml'), dbtSources('amplitude'), 'run: npm run catalog > sql/dbt/sources.yml');
});

test('the dbt sources are valid YAML, list the analysts\' relations only, and give events a freshness field', async () => {
  const result = await runCli(['catalog', '--schema', 'amplitude'], { DATABASE_URL: db.url });
  assert.equal(result.code, 0, result.stderr);
  const sources = parse(result.stdout);
  const source = sources.sources[0];
  assert.equal(source.schema, 'amplitude');
  const tables = source.tables.map((t: { name: string }) => t.name);
  assert.deepEqual(tables, CATALOG.filter((r) => r.audience === 'analysts').map((r) => r.name));
  assert.ok(!tables.includes('event_keys'));
  const events = source.tables.find((t: { name: string }) => t.name === 'events');
  assert.equal(events.loaded_at_field, 'loaded_at');
  assert.equal(events.columns.length, Object.keys(CATALOG[0]!.columns).length);
  const refused = await runCli(['catalog', '--format', 'pdf'], { DATABASE_URL: db.url });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--format must be "dbt" or "markdown"/);
});
