import { parseArgs } from 'node:util';
import { flagsNpmTook, readEnvironment } from '../config.js';
import { PARSE_OPTIONS, type Flags } from '../flags.js';
import { LoaderError, UsageError } from '../errors.js';
import { runCatalog, runDatabase, runMigrate } from './database-commands.js';
import { runDemo } from './demo-command.js';
import { EXIT_OK, exitCodeOf } from './exit-codes.js';
import { HELP } from './help.js';
import { runLoad } from './load-command.js';
import { runStatus } from './status-command.js';
import { packageVersion } from './version.js';
import { printable } from './printable.js';


function log(line: string): void {
  process.stderr.write(`${printable(line)}\n`);
}

/** node:util's parse errors as one line a person can act on, naming the flag. */
function usageMessage(error: Error & { code?: string }): string {
  const flag = /'(--?[\w-]+)/.exec(error.message)?.[1] ?? 'a flag';
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${flag}`;
  if (/does not take an argument/.test(error.message)) return `${flag} takes no value`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `${flag} needs a value (one that starts with "-" is written ${flag}=-1)`;
  return error.message.split('\n')[0] as string;
}

function parseFlags(argv: string[]): { command: string; flags: Flags } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(usageMessage(error as Error));
  }
  const values = parsed.values as Flags;
  const [command = 'load', ...rest] = parsed.positionals;
  // `--from-file a.zip b.zip`: paths after the first come as positionals.
  if (rest.length > 0 && values['from-file'] === undefined) throw new UsageError(`unexpected argument "${rest[0]}"`);
  return { command, flags: rest.length > 0 ? { ...values, 'from-file': [...(values['from-file'] ?? []), ...rest] } : values };
}

/** Runs the CLI and returns its exit code; every error a user can cause ends as a message here. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const swallowed = flagsNpmTook(readEnvironment());
    if (swallowed.length > 0) {
      throw new UsageError(
        `npm took ${swallowed.map((f) => `--${f}`).join(', ')} for itself: npm run passes flags on only after "--", as in npm run load -- --range 20240301`,
      );
    }
    const { command, flags } = parseFlags(argv);
    const { help = false, version = false } = flags;
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
    // One line. A flag that was wrong points to the list of flags; a missing setting or an unreachable
    // database is said fully in the message.
    const hint = error instanceof LoaderError && error.code === 'USAGE' ? ' (--help lists every flag)' : '';
    log(`amplitude-pg: ${error instanceof Error ? error.message : String(error)}${hint}`);
    return exitCodeOf(error);
  }
}
