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
  npm run db          keep this checkout's embedded PostgreSQL running for a SQL client (Ctrl-C stops it)
  npm run db -- --stop   stop it, whichever process started it

  START and END are upload hours in the Export API's form YYYYMMDDTHH (UTC), both included.
  A bare day YYYYMMDD means its 24 hours; a single hour or day loads just that.
    --range 20240301T00..20240307T23   a week, hour by hour
    --range 20240301..20240307         the same week
    --range 20240301T05                one hour

Which hours (one of):
  --range START..END        these hours, any number of them
  --since START             every hour from START to the last available one (now - 2 h) not yet
                            loaded or empty, holes included
  --since-last              from the hour after the last loaded one (or the earliest failed one)
                            to the last available hour
  --follow                  keep running: load each new hour once available, retry failed hours
                            with backoff, ride out network and database outages (stop: Ctrl-C)
  --from-file PATH          export zips, or folders of <project>_<date>_<hour>#<n>.json.gz files
                            (Amplitude's S3 export); no credentials needed

Options (each overrides its environment variable):
  --api-key KEY             AMPLITUDE_API_KEY (required)
  --secret-key SECRET       AMPLITUDE_SECRET_KEY (required; prefer the variable: flags show in ps)
  --region us|eu            AMPLITUDE_REGION, default us
  --export-url URL          AMPLITUDE_EXPORT_URL: a full export endpoint replacing the regional one
  --database-url URL        DATABASE_URL; without it the libpq variables PGHOST, PGPORT, PGUSER,
                            PGPASSWORD, PGDATABASE apply; with neither, the embedded PostgreSQL
                            in .amplitude-pg/ (started when needed)
  --project NAME            AMPLITUDE_PROJECT: which Amplitude project these hours belong to, default
                            "default"; each project has its own hours, claims and dedup, and its
                            rows carry its name
  --schema NAME             the analysts' schema, default amplitude: lower-case letters, digits, '_',
                            at most 56; the loader keeps its own state in NAME_loader
  --shared-schema           allow a schema that already holds tables the loader did not create
  --concurrency N           hours in flight at once, default 4 (Amplitude allows about 5 requests)
  --retries N               attempts after the first for a retryable failure, default 5
  --retry-delay-ms MS       first backoff step, doubled each attempt, default 1000
  --insert-id-window DAYS   $insert_id dedup window, default 7; 0 turns the rule off
  --lock-wait SECONDS       how long any wait for a lock lasts (the dedup lock, a new partition behind
                            an analyst's lock, the migration lock), default 60; then the hour fails
                            and is retried
  --statement-timeout SECONDS
                            the loader's statement_timeout, default 0 (none): it overrides the one a
                            database or role sets, which would cancel an hour's COPY
  --idle-in-transaction-timeout SECONDS
                            a loader stopped mid-transaction releases its locks after this, default 600
  --reload                  fetch loaded and empty hours again and replace their rows exactly
  --dry-run                 print the plan, check the database and the credentials; load nothing
  --temp-dir DIR            where archives are downloaded, default the system temp folder
  --download-timeout SECONDS
                            one download may take at most this long, default 7200; then it is retried
  --min-download-rate BYTES_PER_SECOND
                            an answer slower than this over a minute, headers included, is retried,
                            default 16384; 0 turns the check off
  --headers-timeout SECONDS an answer must begin within this long (Amplitude prepares a large hour
                            before it answers), default 300; then it is retried
  --max-archive-bytes N     an hour's archive may be at most this large, default 6 GiB
  --max-entry-bytes N       one archive entry may decompress to at most this, default 32 GiB
  --max-hour-bytes N        an hour's entries may decompress to at most this, default 64 GiB
  --max-line-bytes N        one NDJSON line may be at most this long, default 64 MiB
  --progress-every SECONDS  JSON logs: a progress event per hour in flight this often, default 30
  --log-format text|json   text with a progress bar on a terminal, JSON lines otherwise (default)
  --json                    status: print JSON instead of the grid
  --help                    this text

A .env file in the working directory is read when present; the environment wins over it.

Exit codes:
  0    every hour in the range is loaded or empty (or not yet available)
  1    one or more hours failed; the others stay loaded
  2    usage or configuration error, database unreachable at start, or credentials refused (401/403)
  130  stopped by SIGINT, 143 by SIGTERM, 129 by SIGHUP (hours in flight rolled back or finished)
`;
