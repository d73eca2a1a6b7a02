import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { loaderTable, type ProjectTarget } from '../db/loader-schema.js';
import { sessionOptions, type SessionSettings } from '../db/pool.js';
import { classifyDatabaseError } from '../errors.js';

/** First key of the two-part advisory locks that mark a loader as alive ("AMPL"). */
const OWNER_LOCK_NAMESPACE = 1095585868;

/** claimed: this loader now holds the hour; held: a live loader does; finished: it is loaded or empty. */
export type ClaimResult = 'claimed' | 'held' | 'finished';

export interface ClaimSettings {
  readonly connectionString: string | undefined;
  readonly target: ProjectTarget;
  /** A claim not renewed for this long may be taken over even if its owner looks alive. */
  readonly leaseSeconds: number;
  readonly session: SessionSettings;
}

/**
 * One loader's standing in the database: a session that holds an advisory lock for as long as the
 * process lives, and the hours it has claimed. When the process dies its session ends, the lock goes,
 * and its claims are free at once; a loader that hangs stops renewing and loses them when the lease
 * runs out. Any number of loaders, on any hosts, can share one database this way.
 */
export class ClaimSession {
  readonly ownerId = randomInt(1, 2 ** 31 - 1);
  readonly owner = `${hostname()}:${process.pid}`;
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly table: string;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly settings: ClaimSettings) {
    this.table = loaderTable(settings.target.schema, 'hour_claims');
  }

  /** The session's connection, opened (again, after an outage) with the owner lock taken. */
  private session(): Promise<pg.Client> {
    // Concurrent callers share one connection attempt: a second session would wait on the lock.
    this.connecting ??= this.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      ...(this.settings.connectionString ? { connectionString: this.settings.connectionString } : {}),
      application_name: 'amplitude-pg claims',
      options: sessionOptions(this.settings.session),
      keepAlive: true,
      connectionTimeoutMillis: 30_000,
    });
    // A dropped session is noticed here; the next call opens a new one and takes the lock again.
    const forget = () => {
      if (this.client === client) {
        this.client = undefined;
        this.connecting = undefined;
      }
    };
    client.on('error', forget);
    client.on('end', forget);
    try {
      await client.connect();
      await client.query('SELECT pg_advisory_lock($1, $2)', [OWNER_LOCK_NAMESPACE, this.ownerId]);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    this.client = client;
    return client;
  }

  /** Runs queries one after another: workers and the heartbeat share the one session. */
  private query(text: string, values: unknown[], doing: string): Promise<pg.QueryResult> {
    const run = async () => {
      try {
        const client = await this.session();
        return await client.query(text, values);
      } catch (error) {
        throw classifyDatabaseError(error, { doing });
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  /** Starts renewing the leases of every hour this loader holds. */
  start(): void {
    const everyMs = (this.settings.leaseSeconds * 1000) / 3;
    this.heartbeat = setInterval(() => {
      this.query(
        `UPDATE ${this.table} SET lease_until = now() + make_interval(secs => $2) WHERE owner_id = $1`,
        [this.ownerId, this.settings.leaseSeconds],
        'renewing claims',
      ).catch(() => {
        // An outage: the next call reconnects. Claims lapse only if it lasts longer than the lease.
      });
    }, everyMs);
    this.heartbeat.unref();
  }

  /**
   * Claims an hour if no other live loader holds it (a claim of this loader's own, left by a release
   * that failed during an outage, is taken back). Without `includeFinished`, an hour already loaded or
   * empty is never claimed: the check runs after the claim, in a statement of its own, so it sees an
   * hour another loader committed while this one was claiming.
   */
  async tryClaim(hourIso: string, includeFinished: boolean): Promise<ClaimResult> {
    const { rowCount } = await this.query(
      `INSERT INTO ${this.table} AS c (project, upload_hour, owner_id, owner, lease_until)
       VALUES ($5, $1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT (project, upload_hour) DO UPDATE
         SET owner_id = EXCLUDED.owner_id, owner = EXCLUDED.owner, claimed_at = now(), lease_until = EXCLUDED.lease_until
       WHERE c.owner_id = EXCLUDED.owner_id
          OR c.lease_until < now()
          OR NOT EXISTS (SELECT 1 FROM pg_locks l
                          WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                            AND l.classid = ${OWNER_LOCK_NAMESPACE} AND l.objid = c.owner_id AND l.objsubid = 2 AND l.granted)`,
      [hourIso, this.ownerId, this.owner, this.settings.leaseSeconds, this.settings.target.project],
      'claiming an hour',
    );
    if (!rowCount) return 'held';
    if (includeFinished) return 'claimed';
    const { rowCount: finished } = await this.query(
      `SELECT 1 FROM ${loaderTable(this.settings.target.schema, 'upload_hours')} WHERE project = $2 AND upload_hour = $1 AND status IN ('loaded', 'empty')`,
      [hourIso, this.settings.target.project],
      'checking an hour',
    );
    if (finished) {
      await this.release(hourIso);
      return 'finished';
    }
    return 'claimed';
  }

  /** Gives an hour back without loading it (it failed, or the run stops). */
  async release(hourIso: string): Promise<void> {
    await this.query(
      `DELETE FROM ${this.table} WHERE project = $3 AND upload_hour = $1 AND owner_id = $2`,
      [hourIso, this.ownerId, this.settings.target.project],
      'releasing a claim',
    );
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.queue;
    const client = this.client;
    this.client = undefined;
    this.connecting = undefined;
    if (!client) return;
    await client.query(`DELETE FROM ${this.table} WHERE owner_id = $1`, [this.ownerId]).catch(() => {});
    await client.end().catch(() => {});
  }
}

/**
 * Inside an hour's transaction: deletes the claim, so it goes with the commit. False means another
 * loader took the hour over (this one hung past its lease) and this transaction must not commit.
 */
export async function completeClaim(
  db: { query(text: string, values: unknown[]): Promise<{ rowCount: number | null }> },
  { schema, project }: ProjectTarget,
  hourIso: string,
  ownerId: number,
): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ${loaderTable(schema, 'hour_claims')} WHERE project = $3 AND upload_hour = $1 AND owner_id = $2`, [
    hourIso,
    ownerId,
    project,
  ]);
  return (rowCount ?? 0) > 0;
}
