/**
 * What a measurement costs the machine: the server CPU per query, and this process's system
 * calls.
 *
 * Server CPU spent on one contender's queries: the user + system CPU time of its backend
 * processes, read from /proc/<pid>/stat (fields 14 and 15, in clock ticks). The backends are
 * found by `application_name` in pg_stat_activity from a side connection; the server must run
 * on this machine (embedded, or a local DATABASE_URL), or no figure is given.
 *
 * Backends can come and go during a measurement (a pool opens lanes, pgbench exits before it
 * can be asked), so the sampler polls every 50 ms and keeps, per backend, the first and the
 * latest reading: the CPU a backend spent in the window is latest - first, or latest alone for
 * a backend born in it. CPU a backend spends after its last poll (at most 50 ms of it) is lost,
 * which only matters for backends that exit inside the window.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import type pg from 'pg';

import { sleep } from './call-tracker.js';

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless the kernel says otherwise). */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields 3.. of /proc/<pid>/stat (index 0 is field 3), or undefined if unreadable. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function ticksToMillis(a: string | undefined, b: string | undefined): number | undefined {
  const ticks = Number(a) + Number(b);
  return Number.isFinite(ticks) ? (ticks * 1000) / ticksPerSecond : undefined;
}

/** CPU milliseconds (user + system) the process has used so far, or undefined if unreadable. */
export function processCpuMillis(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields && ticksToMillis(fields[11], fields[12]); // utime, stime (fields 14, 15)
}

/**
 * CPU milliseconds used by the children `pid` has reaped (cutime + cstime, fields 16, 17). For
 * the postmaster, that is every backend that has exited: how pgbench's backends are measured,
 * as they exit with it, before they could be read one by one. Any other child that exits
 * meanwhile (an autovacuum worker) is counted too: a few milliseconds at most.
 */
export function reapedChildrenCpuMillis(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields && ticksToMillis(fields[13], fields[14]);
}

/** The postmaster's pid: the parent of the admin connection's backend. */
export async function postmasterPid(admin: pg.Client): Promise<number | undefined> {
  const { rows } = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const parent = Number(statFields(rows[0]!.pid)?.[1]); // ppid, field 4
  return Number.isSafeInteger(parent) && parent > 1 ? parent : undefined;
}

export interface ServerCpuSampler {
  /** Starts the window: readings from now on count. */
  start(): Promise<void>;
  /** Ends the window; the CPU milliseconds its backends spent in it, or NaN if unreadable. */
  stop(): Promise<number>;
}

/** Samples the backends of `applicationName` (see the top of this file). */
export function sampleServerCpu(admin: pg.Client, applicationName: string): ServerCpuSampler {
  const first = new Map<number, number>();
  const latest = new Map<number, number>();
  let counting = false;
  let running = false;
  let unreadable = false;
  let loop: Promise<void> = Promise.resolve();

  const poll = async (): Promise<void> => {
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    for (const { pid } of rows) {
      const cpu = processCpuMillis(pid);
      if (cpu === undefined) {
        unreadable = true;
        continue;
      }
      // Born in the window: everything it spent counts; seen before: from its first reading.
      if (!first.has(pid)) first.set(pid, counting ? 0 : cpu);
      latest.set(pid, cpu);
    }
  };

  return {
    async start() {
      await poll();
      counting = true;
      running = true;
      loop = (async () => {
        while (running) {
          await sleep(50);
          await poll();
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
      await poll();
      if (unreadable && latest.size === 0) return NaN;
      let total = 0;
      for (const [pid, cpu] of latest) total += cpu - (first.get(pid) ?? 0);
      return total;
    },
  };
}

/**
 * Read-like and write-like system calls this process has made so far (`syscr`, `syscw` of
 * /proc/self/io: read/readv and write/writev, which is what libuv uses on TCP sockets; epoll is
 * not counted). Undefined where /proc has no such file. Costs nothing while the load runs,
 * unlike strace, which slows every call and so changes how writes coalesce.
 */
export function syscallCounts(): { reads: number; writes: number } | undefined {
  try {
    const io = readFileSync('/proc/self/io', 'utf8');
    const reads = Number(/syscr: (\d+)/.exec(io)?.[1]);
    const writes = Number(/syscw: (\d+)/.exec(io)?.[1]);
    return Number.isFinite(reads) && Number.isFinite(writes) ? { reads, writes } : undefined;
  } catch {
    return undefined;
  }
}
