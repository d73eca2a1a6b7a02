import { flagHelp } from '../flags.js';

export const HELP = `amplitude-pg: load Amplitude Export API hours into PostgreSQL

Usage:
  npm run load -- --range START..END [options]
  npm run load -- --since START | --since-last [--follow] [options]
  npm run load -- --from-file PATH [PATH...] [--range START..END] [options]
  npm run status [-- --range START..END] [--json]
  npm run load -- --version   (any command) the package's version
  npm run migrate [-- --schema NAME]
  npm run catalog [-- --format dbt|markdown]   dbt sources (default) or data dictionary of the schema
  npm run demo        sample data into the embedded PostgreSQL, and three example queries
  npm run db          keep this checkout's embedded PostgreSQL running for a SQL client (Ctrl-C)
  npm run db -- --stop   stop it, whichever process started it

  START and END are upload hours in the Export API's form YYYYMMDDTHH (UTC), both included.
  A bare day YYYYMMDD means its 24 hours; a single hour or day loads just that.
    --range 20240301T00..20240307T23   a week, hour by hour
    --range 20240301..20240307         the same week
    --range 20240301T05                one hour

Which hours (one of):
${flagHelp('hours')}

Options (each overrides its environment variable):
${flagHelp('options')}

Other commands' flags:
${flagHelp('commands')}

A .env file in the working directory is read when present; the environment wins over it.

Exit codes:
  0    every hour in the range is loaded or empty (or not yet available)
  1    one or more hours failed; the others stay loaded
  2    usage or configuration error, database unreachable at start, or credentials refused (401/403)
  130  stopped by SIGINT, 143 by SIGTERM, 129 by SIGHUP (hours in flight rolled back or finished)
`;
