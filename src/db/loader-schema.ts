import { quoteIdentifier } from './pool.js';

/**
 * The warehouse has two rooms: the analysts' schema (--schema) holds events, the views and the rollups;
 * the loader's own state (hours, claims, dedup keys, rejects, dropped copies, migrations) lives in a
 * schema beside it, named after it, which amplitude_reader cannot enter.
 */
export function loaderSchemaOf(schema: string): string {
  return `${schema}${LOADER_SCHEMA_SUFFIX}`;
}

/** What names a warehouse's loader schema; no analysts' schema may end with it. */
export const LOADER_SCHEMA_SUFFIX = '_loader';

/** A relation of the loader's schema, quoted: `"amplitude_loader"."upload_hours"`. */
export function loaderTable(schema: string, name: string): string {
  return `${quoteIdentifier(loaderSchemaOf(schema))}.${quoteIdentifier(name)}`;
}

/** A relation of the analysts' schema, quoted. */
export function analystTable(schema: string, name: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
}

/** Whose hours: the warehouse (its analysts' schema) and the Amplitude project within it. */
export interface ProjectTarget {
  readonly schema: string;
  readonly project: string;
}
