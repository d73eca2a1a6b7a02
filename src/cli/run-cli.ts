import { parseArgs } from 'node:util';
import type { LoaderFlags } from '../config.js';
import { LoaderError, UsageError } from '../errors.js';
import { runCatalog, runDatabase, runMigrate } from './database-commands.js';
import { runDemo } from './demo-command.js';
import { EXIT_HOURS_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { HELP } from './help.js';
import { runLoad } from './load-command.js';
import { runStatus } from './status-command.js';
import { packageVersion } from './version.js';
import { printable } from './printable.js';

const OPTIONS = {
  range: { type: 'string' },
  'from-file': { type: 'string', multiple: true },
  since: { type: 'string' },
  'since-last': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  follow: { type: 'boolean' },
  'log-format': { type: 'string' },
  'progress-every': { type: 'string' },
  concurrency: { type: 'string' },
  retries: { type: 'string' },
  'retry-delay-ms': { type: 'string' },
  schema: { type: 'string' },
  project: { type: 'string' },
  'shared-schema': { type: 'boolean' },
  reload: { type: 'boolean' },
  'insert-id-window': { type: 'string' },
  'lock-wait': { type: 'string' },
  'statement-timeout': { type: 'string' },
  'idle-in-transaction-timeout': { type: 'string' },
  region: { type: 'string' },
  'export-url': { type: 'string' },
  'api-key': { type: 'string' },
  'secret-key': { type: 'string' },
  'database-url': { type: 'string' },
  'temp-dir': { type: 'string' },
  'download-timeout': { type: 'string' },
  'min-download-rate': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'max-archive-bytes': { type: 'string' },
  'max-entry-bytes': { type: 'string' },
  'max-hour-bytes': { type: 'string' },
  'max-line-bytes': { type: 'string' },
  json: { type: 'boolean' },
  stop: { type: 'boolean' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

function log(line: string): void {
  process.stderr.write(`${printable(line)}\n`);
}

function parseFlags(argv: string[]): { command: string; flags: LoaderFlags; help: boolean; version: boolean } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    const [command = 'load', ...rest] = positionals;
    // `--from-file a.zip b.zip`: paths after the first come as positionals.
    if (rest.length > 0 && values['from-file'] === undefined) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const flags = rest.length > 0 ? { ...values, 'from-file': [...(values['from-file'] ?? []), ...rest] } : values;
    return { command, flags, help: values.help ?? false, version: values.version ?? false };
  } catch (error) {
    if (error instanceof LoaderError) throw error;
    throw new UsageError((error as Error).message);
  }
}

/** Runs the CLI and returns its exit code; every error a user can cause ends as a message here. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const { command, flags, help, version } = parseFlags(argv);
    if (version) {
      process.stdout.write(`amplitude-pg ${packageVersion()}\n`);
      return EXIT_OK;
    }
    if (help) {
      process.stdout.write(HELP);
      return EXIT_OK;
    }
    if (command === 'load') return await runLoad(flags);
    if (command === 'status') return await runStatus(flags);
    if (command === 'migrate') return await runMigrate(flags);
    if (command === 'db') return await runDatabase(flags);
    if (command === 'catalog') return await runCatalog(flags);
    if (command === 'demo') return await runDemo();
    throw new UsageError(`unknown command "${command}" (expected load, status, migrate, catalog, db or demo)`);
  } catch (error) {
    if (error instanceof LoaderError && (error.code === 'USAGE' || error.code === 'CONFIG')) {
      log(`amplitude-pg: ${error.message}`);
      // A flag was wrong; a missing setting or an unreachable database is said fully in the message.
      if (error.code === 'USAGE') log('Run with --help for usage.');
      return EXIT_USAGE;
    }
    log(`amplitude-pg: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_HOURS_FAILED;
  }
}
