import { LoaderError } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_HOURS_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_SIGNAL: Readonly<Record<string, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** The exit code of a run an error ended: the one rule for every command. */
export function exitCodeOf(error: unknown): number {
  return error instanceof LoaderError && error.fixConfiguration ? EXIT_USAGE : EXIT_HOURS_FAILED;
}
