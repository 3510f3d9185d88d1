/** The lag monitor's rounds with fake members: in and out, backoff, and the role trigger. */
import { describe, expect, it } from 'vitest';

import type { Pool } from '../../src/pg/index.js';
import { Member } from '../../src/routing/replicas-member.js';
import { LagMonitor } from '../../src/routing/replicas-monitor.js';

type Answer = Record<string, unknown> | Error;

/** A pool that answers every query with `answer()`'s row, or fails with its error. */
function pool(answer: () => Answer): Pool {
  return {
    waitingCount: 0,
    totalCount: 0,
    idleCount: 0,
    query: async () => {
      const row = answer();
      if (row instanceof Error) throw row;
      return { rows: [row] };
    },
  } as unknown as Pool;
}

function setup(limits = { maxLagMillis: undefined, maxLagBytes: 100 }) {
  let primaryRow: Answer = { recovery: false, lsn: '0/1000' };
  let replicaRow: Answer = { recovery: true, replay: '0/1000', receive: '0/1000', age: 5_000 };
  const primary = new Member(
    'db.primary',
    pool(() => primaryRow),
  );
  const replica = new Member(
    'db.replica-0',
    pool(() => replicaRow),
  );
  let redetections = 0;
  const monitor = new LagMonitor(
    {
      primary: () => primary,
      replicas: () => [replica],
      redetectRoles: async () => redetections++,
    },
    { intervalMillis: 1_000, limits, random: () => 0 },
  );
  return {
    monitor,
    replica,
    redetections: () => redetections,
    setPrimary: (row: Answer) => (primaryRow = row),
    setReplica: (row: Answer) => (replicaRow = row),
  };
}

describe('lag monitor', () => {
  it('keeps a caught-up replica in, takes a lagging one out, and back in once it catches up', async () => {
    const t = setup();
    await t.monitor.check();
    expect(t.replica.stats()).toMatchObject({ state: 'in', lagBytes: 0, lagMillis: 0 });
    t.setPrimary({ recovery: false, lsn: '0/2000' });
    await t.monitor.check();
    expect(t.replica.stats()).toMatchObject({
      state: 'out',
      reason: 'lag-bytes',
      lagBytes: 0x1000,
    });
    t.setReplica({ recovery: true, replay: '0/2000', receive: '0/2000', age: 9_000 });
    await t.monitor.check();
    expect(t.replica.stats()).toMatchObject({ state: 'in', replayLsn: '0/2000' });
    expect(t.monitor.primaryLsn).toBe(0x2000n);
  });

  it('takes a failing replica out and probes it only after its backoff', async () => {
    const t = setup();
    let asked = 0;
    t.setReplica(new Error('ECONNREFUSED'));
    const replicaPool = t.replica.pool as unknown as { query: () => Promise<unknown> };
    const failing = replicaPool.query;
    replicaPool.query = () => {
      asked++;
      return failing();
    };
    await t.monitor.check();
    expect(t.replica.stats()).toMatchObject({ state: 'out', reason: 'failing', failures: 1 });
    await t.monitor.check(); // within the backoff (500 ms with random() = 0): not asked
    expect(asked).toBe(1);
    t.replica.nextProbeAt = 0;
    await t.monitor.check();
    expect(asked).toBe(2);
    expect(t.replica.failures).toBe(2);
  });

  it('asks for roles when the primary is in recovery, or down while a replica left recovery', async () => {
    const t = setup();
    t.setPrimary({ recovery: true, lsn: null });
    await t.monitor.check();
    expect(t.redetections()).toBe(1);
    t.setPrimary(new Error('down'));
    await t.monitor.check(); // down, but every replica still in recovery: nothing to promote
    expect(t.redetections()).toBe(1);
    t.setReplica({ recovery: false, replay: null, receive: null, age: null });
    await t.monitor.check();
    expect(t.redetections()).toBe(2);
    expect(t.replica.stats()).toMatchObject({ state: 'out', reason: 'not-in-recovery' });
  });

  it('stops its timer and waits for the round in progress', async () => {
    const t = setup();
    t.monitor.start();
    await t.monitor.stop();
    const round = t.monitor.check(); // an explicit round still runs after stop
    await round;
    expect(t.replica.state).toBe('in');
  });
});
