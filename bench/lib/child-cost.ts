/**
 * What a contender that is a child process (pgbench, bench/lib/libpq-pipeline.c) costs, over its
 * whole run: its backends exit with it, before they could be read one by one, so their CPU is
 * read from the postmaster's reaped-children counters (cutime/cstime), and the child's own CPU
 * from this process's, which reaps it. Both take in any other child reaped meanwhile (on the
 * server, an autovacuum worker: milliseconds), and both count whole clock ticks.
 */
import type pg from 'pg';

import { sleep } from './call-tracker.js';
import { postmasterPid, reapedChildrenCpuMillis } from './process-stats.js';
import { countSessions, sampleSessions } from './sessions.js';

export interface ChildCost<T> {
  /** What `run` resolved to. */
  readonly result: T;
  /** Peak server sessions under the child's application_name. */
  readonly connections: number;
  /** CPU ms of the child's backends over its run (NaN when /proc could not tell). */
  readonly serverCpuMillis: number;
  /** CPU ms of the child itself over its run (NaN when /proc could not tell). */
  readonly childCpuMillis: number;
}

/** Runs `run` (which spawns the child under `applicationName` and awaits its exit). */
export async function measureChild<T>(
  admin: pg.Client,
  applicationName: string,
  run: () => Promise<T>,
): Promise<ChildCost<T>> {
  const postmaster = await postmasterPid(admin);
  const sessions = sampleSessions(admin, applicationName);
  const serverBefore = postmaster && reapedChildrenCpuMillis(postmaster);
  const childBefore = reapedChildrenCpuMillis(process.pid);
  const result = await run();
  const childAfter = reapedChildrenCpuMillis(process.pid);
  const connections = Math.max(0, ...(await sessions.stop()));
  // The postmaster reaps its backends within a few milliseconds of their exit.
  let serverCpuMillis = NaN;
  for (let attempt = 0; attempt < 20 && postmaster !== undefined; attempt++) {
    if ((await countSessions(admin, applicationName)) === 0) {
      await sleep(20);
      serverCpuMillis = reapedChildrenCpuMillis(postmaster)! - serverBefore!;
      break;
    }
    await sleep(50);
  }
  return {
    result,
    connections,
    serverCpuMillis,
    childCpuMillis: (childAfter ?? NaN) - (childBefore ?? NaN),
  };
}
