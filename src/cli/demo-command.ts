import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ensureDatabase, useEmbeddedPostgres } from '../db/embedded-postgres.js';
import { SAMPLE_FIRST_HOUR, SAMPLE_LAST_HOUR } from '../demo/sample-events.js';
import { SAMPLE_API_KEY, SAMPLE_SECRET_KEY, sampleExportApi } from '../demo/sample-export-api.js';
import { EMBEDDED_DATABASE } from './database-target.js';
import { EXIT_OK } from './exit-codes.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../../sql/examples/', import.meta.url));
const SHOWN_EXAMPLES = [
  ['funnel.sql', 'Funnel: signup → add_to_cart → purchase'],
  ['retention.sql', 'Retention by first-seen day'],
  ['top_events_by_platform.sql', 'Top events by platform'],
] as const;

function cell(value: unknown): string {
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  return value === null ? '' : String(value);
}

/** Rows as an aligned text table, as psql prints them. */
function table(rows: Record<string, unknown>[]): string {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

/** Runs `load` as a child process: exactly the command a user runs against Amplitude. */
function load(env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, [CLI, 'load', '--range', `${SAMPLE_FIRST_HOUR}..${SAMPLE_LAST_HOUR}`, '--log-format', 'text'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
}

/**
 * `demo`: the product end to end on a machine with nothing but Node: the embedded PostgreSQL, a local
 * sample Export API with three days of events, the real loader, and three example queries.
 */
export async function runDemo(): Promise<number> {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  out('Starting the embedded PostgreSQL...');
  const server = await useEmbeddedPostgres();
  out(`It runs from binaries in ${server.binDirectory} and data in ${server.dataDirectory}.`);
  const api = await sampleExportApi();
  try {
    await ensureDatabase(server, EMBEDDED_DATABASE);
    out(`Loading three days of sample events (upload hours ${SAMPLE_FIRST_HOUR}..${SAMPLE_LAST_HOUR}) from a sample Export API at ${api.url}\n`);
    const code = await load({
      AMPLITUDE_API_KEY: SAMPLE_API_KEY,
      AMPLITUDE_SECRET_KEY: SAMPLE_SECRET_KEY,
      AMPLITUDE_EXPORT_URL: api.url,
      DATABASE_URL: server.url(EMBEDDED_DATABASE),
    });
    if (code !== EXIT_OK) return code ?? 1;

    const client = new pg.Client({ connectionString: server.url(EMBEDDED_DATABASE) });
    await client.connect();
    try {
      for (const [file, title] of SHOWN_EXAMPLES) {
        const { rows } = await client.query(await readFile(EXAMPLES + file, 'utf8'));
        out(`\n${title} (sql/examples/${file})\n${table(rows)}`);
      }
    } finally {
      await client.end();
    }
    out(
      `\nThe warehouse is the database ${EMBEDDED_DATABASE} of the embedded PostgreSQL, kept in ${server.dataDirectory}:\n` +
        '`npm run status` and `npm run load` without DATABASE_URL use it too. To query it, start the server with `npm run db`, which prints how to connect.\n' +
        'Tables: amplitude.events, the rollups amplitude.users, sessions, daily_users, daily_active_users, daily_active_users_by_platform and event_counts, ' +
        'people (merged_ids, daily_active_people), amplitude.daily_metrics and amplitude.coverage; DATA_DICTIONARY.md says what each column means, ' +
        'sql/examples/ and the README have more queries.',
    );
    return EXIT_OK;
  } finally {
    await api.close();
    await server.stop();
  }
}
