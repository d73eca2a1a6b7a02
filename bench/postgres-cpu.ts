import { readdir, readFile } from 'node:fs/promises';

// Linux reports process times in clock ticks; 100 per second on every mainstream kernel config.
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  ticks: number;
  childTicks: number;
}

async function readStat(pid: string): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    // After "pid (comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based from pid.
    return {
      pid: Number(pid),
      comm: text.slice(text.indexOf('(') + 1, close),
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
      childTicks: Number(fields[13]) + Number(fields[14]),
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by the local PostgreSQL server: its live processes, plus what its exited
 * backends used (the postmaster reaps them, so their time lands in its children's counters).
 * Differences between two calls measure Postgres alone, apart from the loader.
 */
export async function postgresCpuSeconds(): Promise<number> {
  const stats = (await Promise.all((await readdir('/proc')).filter((p) => /^\d+$/.test(p)).map(readStat))).filter(
    (s): s is ProcStat => s !== undefined && s.comm.startsWith('postgres'),
  );
  const pids = new Set(stats.map((s) => s.pid));
  let ticks = 0;
  for (const s of stats) {
    ticks += s.ticks;
    if (!pids.has(s.ppid)) ticks += s.childTicks;
  }
  return ticks / TICKS_PER_SECOND;
}
