/**
 * Every flag of every command, declared once: the parser's options, the flags' type, their
 * environment variables, their defaults and bounds, and the help text all come from this table.
 */
import { UsageError } from './errors.js';

interface FlagBase {
  /** What the help says the flag does (its default is added from below). */
  readonly help: string;
  /** Where the help lists it. */
  readonly section: 'hours' | 'options' | 'commands';
  /** The environment variable it overrides. */
  readonly env?: string;
}

interface StringFlag extends FlagBase {
  readonly type: 'string';
  /** The placeholder the help shows: `--concurrency N`. */
  readonly value: string;
  readonly multiple?: boolean;
  /** A whole number, with its default and its bounds. */
  readonly integer?: { readonly default: number; readonly min: number; readonly max: number };
  /** The default as the help says it, for what is not a whole number. */
  readonly defaultText?: string;
}

interface BooleanFlag extends FlagBase {
  readonly type: 'boolean';
  readonly short?: string;
}

export type FlagSpec = StringFlag | BooleanFlag;

const GIB = 1024 ** 3;

export const FLAGS = {
  range: { type: 'string', value: 'START..END', section: 'hours', help: 'these hours, any number of them' },
  since: { type: 'string', value: 'START', section: 'hours', help: 'every hour from START to the last available one (now - 2 h) not yet loaded or empty, holes included' },
  'since-last': { type: 'boolean', section: 'hours', help: 'from the hour after the last loaded one (or the earliest failed one) to the last available hour' },
  follow: {
    type: 'boolean',
    section: 'hours',
    help: 'keep running: load each new hour once available, retry failed hours with backoff, ride out network and database outages (stop: Ctrl-C)',
  },
  'from-file': {
    type: 'string',
    value: 'PATH',
    multiple: true,
    section: 'hours',
    help: "export zips, or folders of <project>_<date>_<hour>#<n>.json.gz files (Amplitude's S3 export); no credentials needed",
  },
  'api-key': { type: 'string', value: 'KEY', env: 'AMPLITUDE_API_KEY', section: 'options', help: 'the project API key (required)' },
  'secret-key': { type: 'string', value: 'SECRET', env: 'AMPLITUDE_SECRET_KEY', section: 'options', help: 'the project secret key (required; prefer the variable: flags show in ps)' },
  region: { type: 'string', value: 'us|eu', env: 'AMPLITUDE_REGION', defaultText: 'us', section: 'options', help: 'the data residency region' },
  'export-url': { type: 'string', value: 'URL', env: 'AMPLITUDE_EXPORT_URL', section: 'options', help: 'a full export endpoint replacing the regional one' },
  'database-url': {
    type: 'string',
    value: 'URL',
    env: 'DATABASE_URL',
    section: 'options',
    help:
      'a postgres:// URL or libpq settings (host=... dbname=...); without it the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE apply; with neither, the embedded PostgreSQL in .amplitude-pg/',
  },
  project: {
    type: 'string',
    value: 'NAME',
    env: 'AMPLITUDE_PROJECT',
    defaultText: 'default',
    section: 'options',
    help: 'which Amplitude project these hours belong to; each project has its own hours, claims and dedup, and its rows carry its name',
  },
  schema: {
    type: 'string',
    value: 'NAME',
    defaultText: 'amplitude',
    section: 'options',
    help: "the analysts' schema: lower-case letters, digits, '_', at most 56; the loader keeps its own state in NAME_loader",
  },
  'shared-schema': { type: 'boolean', section: 'options', help: 'allow a schema that already holds tables the loader did not create' },
  concurrency: { type: 'string', value: 'N', integer: { default: 4, min: 1, max: 32 }, section: 'options', help: 'hours in flight at once (Amplitude allows about 5 requests)' },
  'transform-threads': {
    type: 'string',
    value: 'N',
    defaultText: 'on more than 2 cores, one per hour in flight up to cores - 1; else 0',
    section: 'options',
    help: 'worker threads that scan and encode the lines, on cores Postgres leaves free; 0 runs the transform on the main thread',
  },
  retries: { type: 'string', value: 'N', integer: { default: 5, min: 0, max: 100 }, section: 'options', help: 'attempts after the first for a retryable failure' },
  'retry-delay-ms': { type: 'string', value: 'MS', integer: { default: 1000, min: 0, max: 600_000 }, section: 'options', help: 'first backoff step, doubled each attempt' },
  'insert-id-window': { type: 'string', value: 'DAYS', defaultText: '7', section: 'options', help: '$insert_id dedup window, 0 to 3650 days; 0 turns the rule off' },
  'lock-wait': {
    type: 'string',
    value: 'SECONDS',
    integer: { default: 60, min: 1, max: 86_400 },
    section: 'options',
    help: "how long any wait for a lock lasts (the dedup lock, a new partition behind an analyst's lock, the migration lock); then the hour fails and is retried",
  },
  'statement-timeout': {
    type: 'string',
    value: 'SECONDS',
    integer: { default: 0, min: 0, max: 86_400 },
    section: 'options',
    help: "the loader's statement_timeout, 0 for none: it overrides the one a database or role sets, which would cancel an hour's COPY",
  },
  'idle-in-transaction-timeout': {
    type: 'string',
    value: 'SECONDS',
    integer: { default: 600, min: 1, max: 86_400 },
    section: 'options',
    help: 'a loader stopped mid-transaction releases its locks after this',
  },
  reload: { type: 'boolean', section: 'options', help: 'fetch loaded and empty hours again and replace their rows exactly' },
  'dry-run': { type: 'boolean', section: 'options', help: 'print the plan, check the database and the credentials; load nothing' },
  'temp-dir': { type: 'string', value: 'DIR', defaultText: 'the system temp folder', section: 'options', help: 'where archives are downloaded' },
  // Two hours: a 4 GB archive (Amplitude's limit) at 1 MB/s still arrives.
  'download-timeout': {
    type: 'string',
    value: 'SECONDS',
    integer: { default: 7200, min: 1, max: 86_400 },
    section: 'options',
    help: 'one download may take at most this long; then it is retried',
  },
  'min-download-rate': {
    type: 'string',
    value: 'BYTES_PER_SECOND',
    integer: { default: 16_384, min: 0, max: GIB },
    section: 'options',
    help: 'an answer slower than this over a minute, headers included, is retried; 0 turns the check off',
  },
  'headers-timeout': {
    type: 'string',
    value: 'SECONDS',
    integer: { default: 300, min: 1, max: 86_400 },
    section: 'options',
    help: 'an answer must begin within this long (Amplitude prepares a large hour before it answers); then it is retried',
  },
  // Amplitude refuses exports over 4 GB; anything much larger is not an export.
  'max-archive-bytes': { type: 'string', value: 'N', integer: { default: 6 * GIB, min: 1, max: Number.MAX_SAFE_INTEGER }, section: 'options', help: "an hour's archive may be at most this large" },
  'max-entry-bytes': { type: 'string', value: 'N', integer: { default: 32 * GIB, min: 1, max: Number.MAX_SAFE_INTEGER }, section: 'options', help: 'one archive entry may decompress to at most this' },
  'max-hour-bytes': { type: 'string', value: 'N', integer: { default: 64 * GIB, min: 1, max: Number.MAX_SAFE_INTEGER }, section: 'options', help: "an hour's entries may decompress to at most this" },
  // A line becomes one JS string; V8 caps strings at about 512 MB.
  'max-line-bytes': { type: 'string', value: 'N', integer: { default: 64 * 1024 ** 2, min: 1, max: 256 * 1024 ** 2 }, section: 'options', help: 'one NDJSON line may be at most this long' },
  'progress-every': { type: 'string', value: 'SECONDS', integer: { default: 30, min: 1, max: 86_400 }, section: 'options', help: 'JSON logs: a progress event per hour in flight this often' },
  'log-format': { type: 'string', value: 'text|json', defaultText: 'text on a terminal, json elsewhere', section: 'options', help: 'a progress bar and a line per hour, or JSON lines' },
  json: { type: 'boolean', section: 'commands', help: 'status: print JSON instead of the grid' },
  format: { type: 'string', value: 'dbt|markdown', defaultText: 'dbt', section: 'commands', help: 'catalog: dbt sources or the data dictionary' },
  stop: { type: 'boolean', section: 'commands', help: "db: stop this checkout's embedded PostgreSQL, whichever process started it" },
  version: { type: 'boolean', section: 'commands', help: "(any command) the package's version" },
  help: { type: 'boolean', short: 'h', section: 'commands', help: 'this text' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

/** The flags as parsed: each flag's value, typed by its declaration. */
export type Flags = {
  -readonly [K in FlagName]?: (typeof FLAGS)[K] extends { type: 'boolean' } ? boolean : (typeof FLAGS)[K] extends { multiple: true } ? string[] : string;
};

/** The options node:util parseArgs takes, from the table. */
export const PARSE_OPTIONS = Object.fromEntries(
  Object.entries(FLAGS as Record<string, FlagSpec>).map(([name, spec]) => [
    name,
    spec.type === 'boolean' ? { type: 'boolean' as const, ...(spec.short ? { short: spec.short } : {}) } : { type: 'string' as const, ...(spec.multiple ? { multiple: true } : {}) },
  ]),
);

type IntegerFlag = { [K in FlagName]: (typeof FLAGS)[K] extends { integer: object } ? K : never }[FlagName];

/** A whole-number flag's value, its default when not given; a value out of its bounds is a usage error naming it. */
export function integerFlag(flags: Flags, name: IntegerFlag): number {
  const { integer } = FLAGS[name] as StringFlag & { integer: NonNullable<StringFlag['integer']> };
  const text = flags[name];
  if (text === undefined) return integer.default;
  const value = Number(text);
  if (!Number.isInteger(value) || value < integer.min || value > integer.max) {
    throw new UsageError(`--${name} must be a whole number from ${integer.min} to ${integer.max}, not "${text}"`);
  }
  return value;
}

const HELP_WIDTH = 104;
const HELP_INDENT = 28;

/** `text` after `head`, wrapped at HELP_WIDTH, continued at HELP_INDENT; a long head gets a line of its own. */
function wrapped(text: string, head: string): string[] {
  const lines: string[] = [];
  const indent = ' '.repeat(HELP_INDENT);
  let line = indent;
  if (head.length < HELP_INDENT) line = head.padEnd(HELP_INDENT);
  else lines.push(head);
  let empty = true;
  for (const word of text.split(' ')) {
    if (!empty && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = indent;
      empty = true;
    }
    line = empty ? line + word : `${line} ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines;
}

function defaultOf(spec: FlagSpec): string | undefined {
  if (spec.type === 'boolean') return undefined;
  if (spec.integer === undefined) return spec.defaultText;
  const { default: value } = spec.integer;
  return value >= GIB && value % GIB === 0 ? `${value / GIB} GiB` : value >= 1024 ** 2 && value % 1024 ** 2 === 0 ? `${value / 1024 ** 2} MiB` : String(value);
}

/** The help's lines for the flags of one section, each with its variable and default. */
export function flagHelp(section: FlagSpec['section']): string {
  const lines: string[] = [];
  for (const [name, spec] of Object.entries(FLAGS as Record<string, FlagSpec>)) {
    if (spec.section !== section) continue;
    const usage = `  --${name}${spec.type === 'string' ? ` ${spec.value}` : ''}`;
    const parts = [spec.env, spec.help].filter(Boolean).join(': ');
    const fallback = defaultOf(spec);
    lines.push(...wrapped(`${parts}${fallback === undefined ? '' : `, default ${fallback}`}`, usage));
  }
  return lines.join('\n');
}
