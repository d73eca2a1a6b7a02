import type pg from 'pg';
import { keysTableComments } from '../db/catalog.js';
import { isDistributed } from '../db/citus.js';
import { analystTable, loaderTable, type ProjectTarget } from '../db/loader-schema.js';
import { classifyDatabaseError } from '../errors.js';

/** A project as the loader works with it: its name, the table of its dedup keys (quoted), and whether events is distributed (Citus). */
export interface RegisteredProject extends ProjectTarget {
  readonly projectId: number;
  readonly keysTable: string;
  readonly distributed: boolean;
}

/** The table of a project's dedup keys: each project has its own, so projects never contest each other's uuids. */
export function keysTableName(projectId: number): string {
  return `event_keys_${projectId}`;
}

/**
 * The project's row in `projects` and its keys table, created the first time the project loads. Two
 * loaders registering one new project at once: a transaction-level advisory lock lets one create it.
 */
export async function registerProject(pool: pg.Pool, target: ProjectTarget): Promise<RegisteredProject> {
  const projects = loaderTable(target.schema, 'projects');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('amplitude-pg projects ' || $1, 0))`, [target.schema]);
    const { rows } = await client.query<{ project_id: number }>(`SELECT project_id FROM ${projects} WHERE project = $1`, [target.project]);
    let projectId = rows[0]?.project_id;
    if (projectId === undefined) {
      const { rows: created } = await client.query<{ project_id: number }>(
        `INSERT INTO ${projects} (project_id, project) SELECT coalesce(max(project_id), 0) + 1, $1 FROM ${projects} RETURNING project_id`,
        [target.project],
      );
      projectId = created[0]?.project_id as number;
      await client.query(`SELECT ${loaderTable(target.schema, 'create_keys_table')}($1)`, [projectId]);
      await client.query(keysTableComments(target.schema, keysTableName(projectId)));
    }
    await client.query('COMMIT');
    return {
      ...target,
      projectId,
      keysTable: loaderTable(target.schema, keysTableName(projectId)),
      distributed: await isDistributed(client, analystTable(target.schema, 'events')),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw classifyDatabaseError(error, { doing: `registering project ${target.project}` });
  } finally {
    client.release();
  }
}
