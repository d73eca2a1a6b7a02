import type pg from 'pg';
import { foldRollups, vacuumPending } from '../load/rollups.js';
import type { RegisteredProject } from '../state/projects.js';

/**
 * After a run, and after each pass of a `--follow` run that loaded hours: folds what a fold under way
 * when an hour committed left pending (waiting for it), then vacuums the pending tables the folds
 * emptied, so the analysts' views of folded + pending are not planned over their dead rows. Failures
 * are notices: the rollups read exact either way, only the views cost more meanwhile.
 */
export async function foldAndVacuumPending(pool: pg.Pool, project: RegisteredProject, notice: (message: string) => void): Promise<void> {
  const folded = await foldRollups(pool, project, true).catch((error: Error) => {
    notice(`the rollups' pending changes stay for the next fold: ${error.message}`);
    return false;
  });
  if (!folded) return;
  await vacuumPending(pool, project.schema).catch((error: Error) => notice(`vacuuming the rollups' pending tables failed (autovacuum will): ${error.message}`));
}
