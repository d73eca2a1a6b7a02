import type pg from 'pg';
import { foldRollups, vacuumPending } from '../load/rollups.js';
import type { RegisteredProject } from '../state/projects.js';

/**
 * Folds what is pending, then vacuums the pending tables the fold emptied. After an hour commits
 * (`after` 'hour'): only if no fold is under way (it, or the next one, takes the changes), and the
 * vacuum only removes dead rows. After a run, and after each pass of a `--follow` run that loaded hours
 * ('run'): waiting for a fold under way, and the vacuum also analyzes, so the analysts' views of folded
 * + pending are planned for tables that are empty, not for their dead rows. Every fold deletes what it
 * takes; left to autovacuum, which a long run keeps busy with the partitions it fills, the dead rows
 * pile up until each fold's taking reads a run's worth of them. Failures are notices: the rollups read
 * exact either way, only the folds and views cost more meanwhile.
 */
export async function foldAndVacuumPending(pool: pg.Pool, project: RegisteredProject, notice: (message: string) => void, after: 'hour' | 'run'): Promise<void> {
  const folded = await foldRollups(pool, project, after === 'run').catch((error: Error) => {
    notice(`the rollups' pending changes stay for the next fold: ${error.message}`);
    return false;
  });
  if (!folded) return;
  await vacuumPending(pool, project.schema, after === 'run').catch((error: Error) =>
    notice(`vacuuming the rollups' pending tables failed (autovacuum will): ${error.message}`),
  );
}
