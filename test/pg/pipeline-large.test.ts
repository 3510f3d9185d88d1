/**
 * Large results beside small queries (src/pg/pipeline/lane.ts, `pipelineLargeResultBytes`)
 * against a real PostgreSQL: a lane that has received more than the threshold of its head's
 * answer takes no new queries, so small queries sent meanwhile run on another connection and are
 * answered before the large one; queries already written behind it still complete; a first large
 * query sent together with small ones does not take them along; every result is exact and no
 * query is lost or left pending. Orders of completion, never the clock.
 */
import { describe, expect, it } from 'vitest';

import type { Pool } from '../../src/pg/index.js';
import { adminClient, createPool, until } from './helpers.js';

interface Row {
  pid: number;
  n: number;
}

const SMALL = 'SELECT pg_backend_pid() AS pid, $1::int AS n';
/**
 * About 2 MB of rows, then a 1 s pause on the server (at row 2000), then 2 MB more: the lane has
 * received far more than the threshold below while the query is still running.
 */
const STREAMING =
  "SELECT pg_backend_pid() AS pid, g AS n, repeat('x', 1000) AS x FROM generate_series(1, 4000) g" +
  ' WHERE g <> 2000 OR pg_sleep(1) IS NOT NULL';
/** 4 MiB in one row, after half a second on the server. */
const ONE_LARGE_ROW =
  "SELECT pg_backend_pid() AS pid, repeat('x', 4194304) AS x FROM pg_sleep(0.5)";

interface Race {
  /** 'big' and 'small <i>', in the order they were answered. */
  order: string[];
  bigPid: number;
  smallPids: Set<number>;
}

/** `big` first, then `count` small queries; checks every result. */
async function race(target: Pool, big: Promise<{ rows: Row[] }>, count = 20): Promise<Race> {
  const order: string[] = [];
  const bigDone = big.then((result) => {
    order.push('big');
    return result;
  });
  const smalls = Array.from({ length: count }, (_, i) =>
    target.query<Row>(SMALL, [i]).then((result) => {
      order.push(`small ${i}`);
      return result;
    }),
  );
  const [bigResult, ...smallResults] = await Promise.all([bigDone, ...smalls]);
  smallResults.forEach((result, i) =>
    expect(result.rows).toEqual([{ pid: expect.any(Number), n: i }]),
  );
  return {
    order,
    bigPid: bigResult.rows[0]!.pid,
    smallPids: new Set(smallResults.map((result) => result.rows[0]!.pid)),
  };
}

/** Resolves once the server is in the pause of STREAMING: it has sent its first 2 MB. */
async function untilPaused(): Promise<void> {
  const admin = await adminClient();
  await until(async () => {
    const { rowCount } = await admin.query(
      "SELECT 1 FROM pg_stat_activity WHERE query = $1 AND wait_event = 'PgSleep'",
      [STREAMING],
    );
    return (rowCount ?? 0) > 0;
  });
}

/** The pool is at rest: nothing waiting, every connection idle. */
function expectAtRest(target: Pool): void {
  expect(target.waitingCount).toBe(0);
  expect(target.idleCount).toBe(target.totalCount);
}

describe('a large result beside small queries', () => {
  it('sends the small queries sent while it streams to another connection: answered before it', async () => {
    // Time-based head-of-line checks off: only the bytes received tell the lane is held up.
    const options = {
      max: 3,
      pipelineSlowQueryMillis: Infinity,
      pipelineLargeResultBytes: 100_000,
    };
    const target = createPool(options);
    const big = target.query<Row>(STREAMING);
    await untilPaused();
    const { order, bigPid, smallPids } = await race(target, big);
    expect(order.indexOf('big')).toBe(order.length - 1);
    expect(smallPids.has(bigPid)).toBe(false);
    expect((await big).rows.map((row) => row.n)).toEqual(
      Array.from({ length: 4000 }, (_, i) => i + 1),
    );
    expectAtRest(target);
  });

  it('writes the small queries behind it with the threshold at 0 (off): answered after it', async () => {
    const target = createPool({
      max: 3,
      pipelineSlowQueryMillis: Infinity,
      pipelineLargeResultBytes: 0,
    });
    const big = target.query<Row>(STREAMING);
    await untilPaused();
    const { order, bigPid, smallPids } = await race(target, big);
    expect(order[0]).toBe('big');
    expect([...smallPids]).toEqual([bigPid]);
    expectAtRest(target);
  });

  it('keeps the queries written behind it: they complete after it, none is lost', async () => {
    const target = createPool({ max: 2, pipelineSlowQueryMillis: Infinity });
    // Written in the same tick, before a byte of the answer is in: behind it on its lane.
    const big = target.query<Row>(STREAMING);
    const behind = Array.from({ length: 5 }, (_, i) => target.query<Row>(SMALL, [i]));
    await untilPaused();
    const { order, bigPid } = await race(target, big);
    const results = await Promise.all(behind);
    expect(results.map((r) => r.rows[0])).toEqual(
      Array.from({ length: 5 }, (_, n) => ({ pid: bigPid, n })),
    );
    expect(order.indexOf('big')).toBe(order.length - 1);
    expectAtRest(target);
  });

  it('does not take along the small queries sent together with a first large query, nor the next time', async () => {
    const target = createPool({ max: 4 });
    for (let round = 0; round < 2; round++) {
      // Round 0: a new statement on a new lane; round 1: a statement known to be large.
      const { order, bigPid, smallPids } = await race(target, target.query<Row>(ONE_LARGE_ROW));
      expect(order.indexOf('big')).toBe(order.length - 1);
      expect(smallPids.has(bigPid)).toBe(false);
      expectAtRest(target);
      expect(target.totalCount).toBeLessThanOrEqual(4);
    }
  });
});
