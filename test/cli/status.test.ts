import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hourArchive, ndjson } from '../helpers/archive.js';
import { runCli, runLoad } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { useLoaderFixtures } from '../helpers/fixtures.js';

const fixtures = useLoaderFixtures(async ({ api }) => {
  for (const hour of ['20240301T00', '20240301T01', '20240302T05']) {
    api.archive(hour, await hourArchive(hour, [ndjson([makeEvent({ event_time: `2024-03-0${hour[7]} ${hour.slice(9)}:10:00` })])]));
  }
  api.answer('20240301T03', { status: 400, body: 'too big' });
});

test('status draws days by hours with totals and the failed hours\' errors', async () => {
  const load = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240301T00..20240301T05']);
  assert.equal(load.code, 1);
  const result = await runCli(['status', '--range', '20240301..20240302'], { DATABASE_URL: fixtures.db.url });
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  assert.match(lines[0]!, /^upload hours 20240301T00\.\.20240302T23 \(UTC\)/);
  const row = (start: string) => lines.find((l) => l.startsWith(start))?.split(/\s+/);
  assert.deepEqual(row('2024-03-01'), ['2024-03-01', '##.X..------------------', '2', '3', '1', '18']);
  assert.deepEqual(row('2024-03-02'), ['2024-03-02', '------------------------', '0', '0', '0', '24']);
  assert.deepEqual(row('total'), ['total', '2', '3', '1', '42']);
  assert.match(lines[2]!, /012345678901234567890123 +loaded +empty +failed +missing$/);
  assert.match(result.stdout, /failed hours:\n {2}20240301T03 {2}after 1 attempt\(s\): hour 20240301T03 is larger than the Export API's 4 GB limit/);
});

test('status --json gives every hour and the totals to scripts', async () => {
  const result = await runCli(['status', '--range', '20240301T00..20240301T05', '--json'], { DATABASE_URL: fixtures.db.url });
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.deepEqual(
    report.hours.map((h: { status: string }) => h.status),
    ['loaded', 'loaded', 'empty', 'failed', 'empty', 'empty'],
  );
  assert.deepEqual(report.totals, { loaded: 2, empty: 3, failed: 1, missing: 0, not_yet_available: 0 });
  assert.equal(report.failures[0].hour, '20240301T03');
});

test('status without a range gives each project\'s overview: span, how far behind, failures, recent days; and the sizes', async () => {
  const web = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', '20240302T05', '--project', 'web']);
  assert.equal(web.code, 0, web.stderr);
  const result = await runCli(['status'], { DATABASE_URL: fixtures.db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^schema amplitude: 2 project\(s\); rows \(estimates\): events /);
  assert.match(result.stdout, /\n\nproject default: upload hours 20240301T00 \.\. 20240301T05 \(UTC\): 2 loaded, 3 empty, 1 failed\n/);
  assert.match(result.stdout, /\n {2}not loaded between 20240301T00 and 20240301T05: 1 hour\(s\) in 1 range\(s\)\n {4}20240301T03\.\.20240301T03 +1 hour\(s\) +npm run load -- --range 20240301T03\.\.20240301T03\n/);
  assert.match(result.stdout, /\n {2}behind: \d+ available hour\(s\) after 20240301T05, up to \d{8}T\d{2}: npm run load -- --since-last\n/);
  assert.doesNotMatch(result.stdout, /up to date/);
  assert.match(result.stdout, /\n {4}2024-03-01 +6 +2 +2\n/);
  assert.match(result.stdout, /failed hours:\n {4}20240301T03 {2}after 1 attempt\(s\): hour 20240301T03 is larger/);
  assert.match(result.stdout, /\n\nproject web: upload hours 20240302T05 \.\. 20240302T05 \(UTC\): 1 loaded, 0 empty, 0 failed\n/);
  const json = await runCli(['status', '--json'], { DATABASE_URL: fixtures.db.url });
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.projects.map((p: { project: string }) => p.project), ['default', 'web']);
  const [main] = report.projects;
  assert.equal(main.first_done_hour, '20240301T00');
  assert.equal(main.last_done_hour, '20240301T05');
  assert.deepEqual(main.hours, { loaded: 2, empty: 3, failed: 1 });
  assert.ok(main.hours_behind > 20_000, 'from March 2024 to now');
  assert.equal(main.up_to_date, false);
  assert.equal(main.hours_not_loaded_inside, 1);
  assert.deepEqual(main.gaps, [{ first: '20240301T03', last: '20240301T03', hours: 1, command: 'npm run load -- --range 20240301T03..20240301T03' }]);
  assert.deepEqual(main.recent_days, [{ day: '2024-03-01', hours: 6, events_read: 2, rows_inserted: 2 }]);
  assert.deepEqual(report.projects[1].recent_days, [{ day: '2024-03-02', hours: 1, events_read: 1, rows_inserted: 1 }]);
  assert.deepEqual(Object.keys(report.estimated_rows), ['events', 'duplicates', 'rejects']);
  const grid = JSON.parse((await runCli(['status', '--range', '20240302', '--project', 'web', '--json'], { DATABASE_URL: fixtures.db.url })).stdout);
  assert.deepEqual(grid.totals, { loaded: 1, empty: 0, failed: 0, missing: 23, not_yet_available: 0 });
});

test('status on a warehouse with nothing loaded says so', async () => {
  const migrated = await runCli(['migrate', '--schema', 'untouched'], { DATABASE_URL: fixtures.db.url });
  assert.equal(migrated.code, 0, migrated.stderr);
  const result = await runCli(['status', '--schema', 'untouched'], { DATABASE_URL: fixtures.db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /nothing is loaded in schema untouched yet/);
});

test('status and catalog only read: a mistyped --schema creates nothing, and a login without DDL rights can run them', async () => {
  const schemas = async () => (await fixtures.db.pool.query(`SELECT nspname FROM pg_namespace ORDER BY 1`)).rows.map((r) => r.nspname as string);
  const before = await schemas();
  for (const command of [['status'], ['status', '--range', '20240301'], ['catalog'], ['catalog', '--format', 'markdown']]) {
    const result = await runCli([...command, '--schema', 'amplitdue'], { DATABASE_URL: fixtures.db.url });
    assert.equal(result.code, 2, `${command.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, /schema amplitdue holds no warehouse \(amplitdue_loader has no migrations\): check --schema, or create it with npm run migrate -- --schema amplitdue .*nothing was created/);
  }
  assert.deepEqual(await schemas(), before, 'no schema was created');

  // A monitoring login that reads both schemas and may create nothing.
  const monitor = `monitor_${process.pid}`;
  await fixtures.db.pool.query(`CREATE ROLE ${monitor} LOGIN`);
  try {
    await fixtures.db.pool.query(
      `GRANT USAGE ON SCHEMA amplitude, amplitude_loader TO ${monitor};
       GRANT SELECT ON ALL TABLES IN SCHEMA amplitude, amplitude_loader TO ${monitor};
       REVOKE CREATE ON SCHEMA public FROM PUBLIC;`,
    );
    const url = new URL(fixtures.db.url);
    url.username = monitor;
    for (const command of [['status'], ['status', '--range', '20240301', '--json'], ['catalog']]) {
      const result = await runCli(command, { DATABASE_URL: url.toString() });
      assert.equal(result.code, 0, `${command.join(' ')}: ${result.stderr}`);
    }
    const load = await runCli(['migrate'], { DATABASE_URL: url.toString() });
    assert.notEqual(load.code, 0, 'the login cannot change the schema, and migrate needs to');
  } finally {
    await fixtures.db.pool.query(`REASSIGN OWNED BY ${monitor} TO CURRENT_USER; DROP OWNED BY ${monitor}; DROP ROLE ${monitor}`);
  }
});

test('status reports every gap: a stray recent hour after old ones is not "up to date"', async () => {
  const recent = new Date(Date.now() - 5 * 3_600_000).toISOString();
  const hour = `${recent.slice(0, 4)}${recent.slice(5, 7)}${recent.slice(8, 10)}T${recent.slice(11, 13)}`;
  fixtures.api.archive(hour, await hourArchive(hour, [ndjson([makeEvent()])]));
  fixtures.api.archive('20240301T00', await hourArchive('20240301T00', [ndjson([makeEvent()])]));
  for (const range of ['20240301T00', hour]) {
    const load = await runLoad(fixtures.api.url, fixtures.db.url, ['--range', range, '--project', 'stray']);
    assert.equal(load.code, 0, load.stderr);
  }
  const result = await runCli(['status'], { DATABASE_URL: fixtures.db.url });
  assert.equal(result.code, 0, result.stderr);
  const section = result.stdout.slice(result.stdout.indexOf('project stray'));
  assert.doesNotMatch(section.split('\n\n')[0] as string, /up to date/);
  assert.match(section, new RegExp(`not loaded between 20240301T00 and ${hour}: (\\d+) hour\\(s\\) in 1 range\\(s\\)\\n +20240301T01\\.\\.\\d{8}T\\d{2} +\\d+ hour\\(s\\) +npm run load -- --range 20240301T01\\.\\.\\d{8}T\\d{2} --project stray`));
  const json = JSON.parse((await runCli(['status', '--json'], { DATABASE_URL: fixtures.db.url })).stdout);
  const stray = json.projects.find((p: { project: string }) => p.project === 'stray');
  assert.ok(stray.hours_not_loaded_inside > 20_000);
  assert.equal(stray.up_to_date, false);
});
