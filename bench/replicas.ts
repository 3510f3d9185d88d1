/**
 * The replica router on a real primary with two streaming replicas (test/support/replica.ts),
 * all on this machine:
 *
 *   npx tsx bench/replicas.ts [--duration 2000] [--concurrency 32] [--reads 300] [--interval 200]
 *
 * 1. Read throughput: the same read-only query from `concurrency` callers for `duration` ms,
 *    through the router with `reads: 'replica'` (two replicas) and with `reads: 'primary'`
 *    (the primary alone). All three servers share this machine's cores, so the gain here is a
 *    floor of what separate hosts give.
 * 2. Stale reads: `reads` times, insert a row on the primary and at once read it with
 *    `replica: true`, outside a consistency scope (no token) and inside one (token); a read
 *    that does not see its row is stale.
 * 3. A dead replica: stop one (`pg_ctl stop -m immediate`) under a steady read load, and
 *    measure how long until the router has it out, how many reads failed meanwhile, and,
 *    after restarting it, how long until it is back in (monitor interval `interval` ms).
 *
 * Writes bench/results/replicas-<timestamp>.json.
 */
import { parseArgs } from 'node:util';

import { createReplicaRouter, type ReplicaRouter } from '../src/routing/index.js';
import { startReplicaSet, type ReplicaSet } from '../test/support/replica.js';
import { machineInfo, writeResults } from './lib/harness.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    reads: { type: 'string', default: '300' },
    interval: { type: 'string', default: '200' },
  },
});
const durationMillis = Number(values.duration);
const concurrency = Number(values.concurrency);
const staleRounds = Number(values.reads);
const intervalMillis = Number(values.interval);

const kRead = 'SELECT sum(i)::bigint AS s FROM generate_series(1, 5000) AS i';

function router(set: ReplicaSet, reads: 'primary' | 'replica', name: string): ReplicaRouter {
  return createReplicaRouter({
    name,
    primary: set.primary.url,
    replicas: set.replicas.map((replica) => replica.url),
    reads,
    max: 16,
    monitorIntervalMillis: intervalMillis,
  });
}

/** Answers per second of `concurrency` closed-loop callers over `durationMillis`. */
async function throughput(db: ReplicaRouter): Promise<number> {
  await Promise.all(Array.from({ length: concurrency }, () => db.query(kRead))); // warm up
  const endAt = performance.now() + durationMillis;
  let answers = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < endAt) {
        await db.query(kRead);
        answers++;
      }
    }),
  );
  return Math.round((answers * 1000) / durationMillis);
}

interface StaleCount {
  stale: string;
  servedByReplica: number;
  meanMillisPerWriteAndRead: number;
}

async function staleReads(
  db: ReplicaRouter,
  table: string,
  withToken: boolean,
): Promise<StaleCount> {
  let stale = 0;
  let byReplica = 0;
  const startedAt = performance.now();
  for (let i = 0; i < staleRounds; i++) {
    const id = (withToken ? 1_000_000 : 0) + i;
    const once = async (): Promise<void> => {
      await db.query(`INSERT INTO ${table} VALUES ($1)`, [id]);
      const { rows } = await db.query<{ n: number; r: boolean }>({
        text: `SELECT count(*)::int AS n, pg_is_in_recovery() AS r FROM ${table} WHERE id = $1`,
        values: [id],
        replica: true,
      });
      if (rows[0]!.n === 0) stale++;
      if (rows[0]!.r) byReplica++;
    };
    await (withToken ? db.withConsistency(once) : once());
  }
  const mean = (performance.now() - startedAt) / staleRounds;
  return {
    stale: `${stale}/${staleRounds}`,
    servedByReplica: byReplica,
    meanMillisPerWriteAndRead: Math.round(mean * 100) / 100,
  };
}

async function until(condition: () => boolean): Promise<number> {
  const startedAt = performance.now();
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
  return Math.round(performance.now() - startedAt);
}

async function deadReplica(set: ReplicaSet): Promise<Record<string, number>> {
  const db = router(set, 'replica', 'dead');
  const state = (): string | undefined => db.stats().replicas['dead.replica-1']?.state;
  await until(() => state() === 'in');
  let failed = 0;
  let served = 0;
  let running = true;
  const load = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (running) {
        await db.query('SELECT 1').then(
          () => served++,
          () => failed++,
        );
      }
    }),
  );
  const stoppedAt = performance.now();
  await set.replicas[1]!.stop('immediate');
  const outMillis =
    Math.round(performance.now() - stoppedAt) + (await until(() => state() === 'out'));
  await set.replicas[1]!.start();
  const inMillis = await until(() => state() === 'in');
  running = false;
  await load;
  await db.end();
  return { outMillis, inMillis, failedReads: failed, servedReads: served };
}

const set = await startReplicaSet(2);
try {
  const admin = router(set, 'primary', 'setup');
  const table = `bench_replicas_${process.pid}`;
  await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
  await admin.end();

  const results: Record<string, unknown> = { machine: machineInfo(), durationMillis, concurrency };
  for (const [label, reads] of [
    ['primaryAlone', 'primary'],
    ['twoReplicas', 'replica'],
  ] as const) {
    const db = router(set, reads, label);
    await until(() => Object.values(db.stats().replicas).every((r) => r.state === 'in'));
    results[`${label}ReadsPerSecond`] = await throughput(db);
    await db.end();
  }
  const db = router(set, 'primary', 'stale');
  await until(() => Object.values(db.stats().replicas).every((r) => r.state === 'in'));
  results['staleReadsWithoutToken'] = await staleReads(db, table, false);
  results['staleReadsWithToken'] = await staleReads(db, table, true);
  await db.end();
  results['deadReplica'] = await deadReplica(set);
  console.log(JSON.stringify(results, null, 2));
  console.log(`results: ${writeResults('replicas', results)}`);
} finally {
  await set.stop();
}
