/**
 * Slow-query isolation (src/pg/pipeline/isolation.ts, slow-statements.ts) against a real PostgreSQL: a
 * statement seen holding up a lane runs on a connection of its own from then on, so fast
 * queries are not written behind it; a fast query that only waited behind a slow one is not
 * taken for slow; a statement that is fast again is pipelined again; and isolated queries keep
 * the exclusive path's results, errors, timeouts and end() semantics.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';

import { PgConnectionLostError, PoolError, type Pool } from '../../src/pg/index.js';
import { adminClient, createPool, sleep, until } from './helpers.js';

/** The slow statement: how long it sleeps is a parameter, so one text can be slow or fast. */
const SLOW = 'SELECT pg_backend_pid() AS pid, pg_sleep($1::float8) AS s, $2::int AS n';
const FAST = 'SELECT pg_backend_pid() AS pid, $1::int AS n';
/** Above any stall of a busy test machine, far below the slow statement's runs. */
const THRESHOLD = 50;

interface Row {
  pid: number;
  n: number;
}

function pool(config: Parameters<typeof createPool>[0] = {}): Pool {
  return createPool({ max: 4, pipelineSlowQueryMillis: THRESHOLD, ...config });
}

/**
 * Runs SLOW three times, one after the other, each 0.2 s: three slow runs in a row, which is
 * what marks a statement slow.
 */
async function learn(target: Pool): Promise<void> {
  for (let i = 0; i < 3; i++) await target.query(SLOW, [0.2, i]);
}

/** Sends SLOW (0.3 s) and FAST in the same tick; resolves with which was answered first. */
async function race(target: Pool): Promise<{ first: string; slowPid: number; fastPid: number }> {
  const order: string[] = [];
  const slow = target.query<Row>(SLOW, [0.3, 0]).then((r) => {
    order.push('slow');
    return r.rows[0]!.pid;
  });
  const fast = target.query<Row>(FAST, [1]).then((r) => {
    order.push('fast');
    return r.rows[0]!.pid;
  });
  const [slowPid, fastPid] = await Promise.all([slow, fast]);
  return { first: order[0]!, slowPid, fastPid };
}

/** Opens `count` connections (checked out together), left idle in the pool. */
async function warm(target: Pool, count: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: count }, () => target.connect()));
  for (const client of clients) client.release();
}

/** The pids that `count` concurrent runs of FAST were answered on. */
async function fastPids(target: Pool, count = 20): Promise<Set<number>> {
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => target.query<Row>(FAST, [i])),
  );
  results.forEach((r, i) => expect(r.rows[0]?.n).toBe(i));
  return new Set(results.map((r) => r.rows[0]!.pid));
}

describe('slow-query isolation', () => {
  it('runs a statement seen slow on its own connection: a fast query sent after it is not held up', async () => {
    const isolating = pool();
    const control = pool({ pipelineIsolateSlowQueries: false });
    await Promise.all([learn(isolating), learn(control)]);

    // Without isolation, the fast query is written on the lane right behind the slow one.
    const before = await race(control);
    expect(before.first).toBe('slow');
    expect(before.fastPid).toBe(before.slowPid);

    const after = await race(isolating);
    expect(after.first).toBe('fast');
    expect(after.fastPid).not.toBe(after.slowPid);
  });

  it('does not take a fast query that waited behind a slow one for slow', async () => {
    const target = pool();
    // Three times: the slow one first, the fast one written behind it, waiting 0.2 s for it.
    // On a lane that has answered already (kept for the turn): a new statement at the head of
    // a lane that has answered nothing yet has nothing written behind it.
    for (let i = 0; i < 3; i++) {
      await target.query(FAST, [i]);
      const [slow, fast] = await Promise.all([
        target.query<Row>(SLOW, [0.2, i]),
        target.query<Row>(FAST, [i]),
      ]);
      expect(fast.rows[0]?.pid).toBe(slow.rows[0]?.pid); // it did wait behind it
    }
    // The slow statement is isolated now ...
    expect((await race(target)).first).toBe('fast');
    // ... the fast one is still pipelined: concurrent runs share one connection. (Isolated, at
    // least two would run at once, each on a connection of its own.)
    expect((await fastPids(target)).size).toBe(1);
  });

  it('pipelines a statement again once its isolated runs are fast', async () => {
    const target = pool();
    await learn(target);
    expect((await race(target)).first).toBe('fast');
    // The same text, now fast: each isolated run brings its average down.
    for (let i = 0; i < 10; i++) await target.query(SLOW, [0, i]);
    // Pipelined again: a fast query sent right after it is written behind it.
    const again = await race(target);
    expect(again.first).toBe('slow');
    expect(again.fastPid).toBe(again.slowPid);
  });

  it('keeps results and SQL errors of isolated queries as they are', async () => {
    const target = pool();
    await learn(target);
    const sql = 'SELECT pg_sleep($1::float8) AS s, 10 / $2::int AS n';
    for (let i = 0; i < 3; i++) await target.query(sql, [0.2, 1]);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        i % 4 === 3
          ? target.query<{ n: number }>(sql, [0.02, 0]) // 22012, division by zero
          : target.query<{ n: number }>(sql, [0.02, i + 1]),
      ),
    );
    outcomes.forEach((outcome, i) => {
      if (i % 4 === 3) {
        expect(outcome.status).toBe('rejected');
        const error = (outcome as PromiseRejectedResult).reason as pg.DatabaseError;
        expect(error).toBeInstanceOf(pg.DatabaseError);
        expect(error.code).toBe('22012');
      } else {
        expect(outcome).toMatchObject({
          status: 'fulfilled',
          value: { rows: [{ n: Math.trunc(10 / (i + 1)) }] },
        });
      }
    });
    // Isolated queries run one per connection: at most max - 2 at once, the rest wait here.
    const many = Array.from({ length: 5 }, (_, i) => target.query<Row>(SLOW, [0.1, i]));
    expect(target.waitingCount).toBe(3);
    const rows = (await Promise.all(many)).map((r) => r.rows[0]!.n);
    expect(rows).toEqual([0, 1, 2, 3, 4]);
  });

  it('fails an isolated query that waits longer than acquireTimeoutMillis, and only that one', async () => {
    const target = pool({ acquireTimeoutMillis: 150 });
    await learn(target);
    // The two runs below find their connections open: only the third has to wait.
    await warm(target, 2);
    const running = [target.query(SLOW, [0.5, 1]), target.query(SLOW, [0.5, 2])];
    const error: unknown = await target.query(SLOW, [0, 3]).catch((e: unknown) => e);
    expect((error as Error).cause).toBeInstanceOf(PoolError);
    expect(error).toMatchObject({ cause: { code: 'ERR_POOL_ACQUIRE_TIMEOUT' } });
    await expect(Promise.all(running)).resolves.toHaveLength(2);
    // Fast queries were not affected meanwhile.
    expect((await target.query<Row>(FAST, [7])).rows[0]?.n).toBe(7);
  });

  it('fails an isolated query whose connection is lost as may-have-run; the pool carries on', async () => {
    const target = pool();
    await learn(target);
    const doomed = target.query(SLOW, [5, 1]).catch((e: unknown) => e);
    const admin = await adminClient();
    let pid: number | undefined;
    await until(async () => {
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'active'",
        [SLOW],
      );
      pid = rows[0]?.pid;
      return pid !== undefined;
    });
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const error = await doomed;
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect(error).toMatchObject({ code: 'ERR_PG_CONNECTION_LOST', mayHaveRun: true });
    expect((await target.query<Row>(SLOW, [0, 2])).rows[0]?.n).toBe(2);
    expect((await target.query<Row>(FAST, [3])).rows[0]?.n).toBe(3);
  });

  it('end(): isolated queries running and waiting are all answered', async () => {
    const target = pool();
    await learn(target);
    const queries = Array.from({ length: 4 }, (_, i) =>
      target.query<Row>(SLOW, [0.3, i]).then(
        (r) => r.rows[0]!.n,
        (e: unknown) => e,
      ),
    );
    await sleep(20);
    await target.end();
    const outcomes = await Promise.all(queries);
    expect(outcomes).toEqual([0, 1, 2, 3]);
    expect(target.totalCount).toBe(0);
  });

  it('sends nothing behind a slow query queued behind another one (isolation off)', async () => {
    const target = pool({ pipelineIsolateSlowQueries: false });
    // Both written on one lane; when the first ends, the second starts its service afresh.
    // (The second runs 1 s, so that the fast query, which opens a connection of its own,
    // answers first even on a loaded machine.)
    const first = target.query<Row>(SLOW, [0.3, 1]);
    let secondDone = false;
    const second = target.query<Row>(SLOW, [1, 2]).then((r) => {
      secondDone = true;
      return r;
    });
    const firstPid = (await first).rows[0]!.pid;
    await sleep(20);
    // Its oldest query was sent more than 4 x 50 ms ago: the lane takes no new query.
    const fast = await target.query<Row>(FAST, [3]);
    expect(secondDone).toBe(false);
    expect(fast.rows[0]?.pid).not.toBe(firstPid);
    expect((await second).rows[0]?.pid).toBe(firstPid);
  });

  it('is validated with the other options', () => {
    expect(() => createPool({ pipelineIsolateSlowQueries: 'yes' as never })).toThrow(
      expect.objectContaining({
        code: 'ERR_POOL_INVALID_OPTION',
        option: 'pipelineIsolateSlowQueries',
      }),
    );
  });
});

describe('new statements on probation', () => {
  /** The burst's statement: new to each pool; where and when the server ran each run. */
  const BURST =
    'SELECT pg_backend_pid() AS pid, statement_timestamp() AS started, pg_sleep($1::float8) AS s, clock_timestamp() AS ended';

  interface BurstRun {
    pid: number;
    started: Date;
    ended: Date;
  }

  /**
   * Fast callers run FAST in a loop; a burst of ten runs of a never-seen slow statement (0.3 s
   * each) arrives at once. Counted by events, not by the clock: for each fast query, how many
   * runs of the burst were answered on its own connection while it waited (a lane answers in
   * order, so those are the runs it was written behind); the most any fast query waited
   * behind, and where and when the server ran each run.
   */
  async function burst(target: Pool): Promise<{ waitedBehind: number; runs: BurstRun[] }> {
    let running = true;
    let waitedBehind = 0;
    let fastAnswered = 0;
    /** The backend of each run of the burst, in the order they were answered. */
    const answeredOn: number[] = [];
    const callers = Array.from({ length: 8 }, async (_, i) => {
      while (running) {
        const sentAfter = answeredOn.length;
        const { rows } = await target.query<Row>(FAST, [i]);
        fastAnswered++;
        const pid = rows[0]!.pid;
        const behind = answeredOn.slice(sentAfter).filter((p) => p === pid).length;
        waitedBehind = Math.max(waitedBehind, behind);
      }
    });
    // The fast callers are under way (each answered once) before the burst arrives.
    await until(() => fastAnswered >= 8);
    const runs = await Promise.all(
      Array.from({ length: 10 }, () =>
        target.query<BurstRun>(BURST, [0.3]).then(({ rows }) => {
          answeredOn.push(rows[0]!.pid);
          return rows[0]!;
        }),
      ),
    );
    running = false;
    await Promise.all(callers);
    return { waitedBehind, runs };
  }

  /** Whether two of the runs were running on the server at the same time. */
  function overlapped(runs: readonly BurstRun[]): boolean {
    return runs.some((a, i) =>
      runs.some((b, j) => i !== j && a.started < b.ended && b.started < a.ended),
    );
  }

  it('writes only the first run of a new statement onto a lane; a slow one sends the rest apart', async () => {
    const { waitedBehind, runs } = await burst(pool({ max: 10 }));
    // Fast queries written behind the first run wait for it, never behind the other nine.
    expect(waitedBehind).toBeLessThanOrEqual(1);
    // The nine others ran apart, several at a time (max - 2), not one after the other.
    expect(overlapped(runs)).toBe(true);
  });

  it('the control: without isolation the burst stacks up on the lanes', async () => {
    const { waitedBehind } = await burst(pool({ max: 10, pipelineIsolateSlowQueries: false }));
    expect(waitedBehind).toBeGreaterThan(1);
  });
});

describe('probation and end()', () => {
  /**
   * A first run holds the only lane (depth 1) while three runs of a new statement wait behind
   * it; then the pool ends. Resolves to how each of the three settled, or 'still pending'.
   */
  async function endWithRunsHeld(target: Pool, busySeconds: number): Promise<unknown> {
    const busy = target.query('SELECT pg_sleep($1)', [busySeconds]).catch((e: unknown) => e);
    await sleep(20); // the only lane is full: what follows waits in the dispatcher
    const runs = Array.from({ length: 3 }, () =>
      target.query('SELECT 7 AS seven').then(
        () => 'answered',
        (error: unknown) => (error as PoolError).code,
      ),
    );
    const ended = target.end();
    const outcomes = await Promise.race([
      Promise.all(runs),
      sleep(5_000).then(() => 'still pending'),
    ]);
    await ended;
    await busy;
    return outcomes;
  }

  it('answers the runs held behind a waiting first run when the pool ends: none is left pending', async () => {
    const outcomes = await endWithRunsHeld(pool({ max: 1, pipelineDepth: 1 }), 0.3);
    expect(outcomes).toEqual(['answered', 'answered', 'answered']);
  });

  it('fails the runs still held when endTimeoutMillis runs out: none is left pending', async () => {
    const target = pool({ max: 1, pipelineDepth: 1, endTimeoutMillis: 50 });
    const outcomes = await endWithRunsHeld(target, 0.5);
    expect(outcomes).toEqual(['ERR_POOL_CLOSED', 'ERR_POOL_CLOSED', 'ERR_POOL_CLOSED']);
  });
});
