/**
 * The replica router against a real primary and streaming replica (test/support/replica.ts):
 * reads opted in are answered by a server in recovery, writes by the primary; lag (replay
 * paused with pg_wal_replay_pause) takes the replica out; read-your-writes never reads stale;
 * a crashed replica is routed around and readmitted; roles are re-detected after a 25006 and
 * after a promotion. "Which server answered" is always `pg_is_in_recovery()` in the answer.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  createReplicaRouter,
  type ReplicaRouter,
  type ReplicaRouterConfig,
} from '../../src/routing/index.js';
import {
  serverControlUnavailable,
  startReplicaSet,
  untilStreaming,
  type ReplicaSet,
} from '../support/replica.js';
import { adminClient, tableName, until, untilRunning } from './helpers.js';

const kSkip = serverControlUnavailable;

describe.skipIf(kSkip !== undefined)('read replicas (real streaming replica)', () => {
  let set: ReplicaSet;
  const routers: ReplicaRouter[] = [];
  const table = tableName('replicas');

  beforeAll(async () => {
    set = await startReplicaSet(1);
    const admin = await adminClient(set.primary.url);
    await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    await admin.query(`INSERT INTO ${table} VALUES (0, 'seed')`);
    await admin.end();
  });
  afterAll(async () => {
    await set?.stop();
  });
  afterEach(async () => {
    for (const router of routers.splice(0)) if (!router.ending) await router.end();
  });

  const replicaUrl = (): string => set.replicas[0]!.url;

  function router(overrides: Partial<ReplicaRouterConfig> = {}): ReplicaRouter {
    const created = createReplicaRouter({
      primary: set.primary.url,
      replicas: [replicaUrl()],
      name: 'db',
      max: 4,
      monitorIntervalMillis: 100,
      endTimeoutMillis: 2_000,
      ...overrides,
    });
    routers.push(created);
    return created;
  }

  async function served(db: ReplicaRouter, replica?: boolean): Promise<'replica' | 'primary'> {
    const { rows } = await db.query<{ r: boolean }>({
      text: 'SELECT pg_is_in_recovery() AS r',
      ...(replica !== undefined && { replica }),
    });
    return rows[0]!.r ? 'replica' : 'primary';
  }

  /** Runs `fn` with WAL replay paused on the replica, resuming it whatever happens. */
  async function withReplayPaused<T>(fn: () => Promise<T>): Promise<T> {
    const admin = await adminClient(replicaUrl());
    await admin.query('SELECT pg_wal_replay_pause()');
    try {
      return await fn();
    } finally {
      await admin.query('SELECT pg_wal_replay_resume()');
    }
  }

  async function untilState(db: ReplicaRouter, state: 'in' | 'out'): Promise<void> {
    await until(async () => {
      await db.checkReplicas();
      return db.stats().replicas['db.replica-0']?.state === state;
    }, 20_000);
  }

  it('sends reads that opt in to the replica and everything else to the primary', async () => {
    const db = router();
    await untilState(db, 'in');
    expect(await served(db, true)).toBe('replica');
    expect(await served(db)).toBe('primary');
    const { rows: replicaRows } = await db.replica().query('SELECT pg_is_in_recovery() AS r');
    expect(replicaRows[0]!.r).toBe(true);
    const { rows: primaryRows } = await db.primary().query('SELECT pg_is_in_recovery() AS r');
    expect(primaryRows[0]!.r).toBe(false);
    // A write opted in still goes to the primary (a replica would refuse it).
    await db.query({ text: `INSERT INTO ${table} VALUES (1, 'w')`, replica: true });
    const inTransaction = (options: Parameters<ReplicaRouter['transaction']>[1]) =>
      db.transaction(async (client) => {
        const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        return rows[0]!.r ? 'replica' : 'primary';
      }, options);
    expect(await inTransaction({ readOnly: true, replica: true })).toBe('replica');
    expect(await inTransaction({ readOnly: true })).toBe('primary');
    expect(await inTransaction({ replica: true })).toBe('primary');
    // A Submittable goes to the primary unless it carries the hint itself.
    const submitted = (replica?: boolean): Promise<boolean> =>
      new Promise((resolve, reject) => {
        const query = new pg.Query('SELECT pg_is_in_recovery() AS r');
        if (replica !== undefined) Object.assign(query, { replica });
        let r = false;
        query.on('row', (row: { r: boolean }) => (r = row.r));
        query.on('end', () => resolve(r));
        query.on('error', reject);
        db.query(query);
      });
    expect(await submitted(true)).toBe(true);
    expect(await submitted()).toBe(false);
    const client = await db.connect();
    try {
      expect((await client.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
    } finally {
      client.release();
    }
  });

  it("routes by the router's default, which a call can override", async () => {
    // No monitor rounds but the first and ours: the replica's query count is ours to read.
    const db = router({ reads: 'replica', monitorIntervalMillis: 600_000 });
    await untilState(db, 'in');
    expect(await served(db)).toBe('replica');
    expect(await served(db, false)).toBe('primary');
    const replicaQueries = (): number => db.stats().members['db.replica-0']!.queries;
    const before = replicaQueries();
    // The classifier keeps a locking read on the primary, even with replica reads by default
    // (never tried on the replica first, which would refuse it with 25006).
    const { rows } = await db.query<{ r: boolean }>(
      `SELECT pg_is_in_recovery() AS r FROM ${table} WHERE id = 0 FOR UPDATE`,
    );
    expect(rows[0]!.r).toBe(false);
    const multi = await db.query('SELECT pg_is_in_recovery() AS r; SELECT 1');
    expect((multi as unknown as { rows: { r: boolean }[] }[])[0]!.rows[0]!.r).toBe(false);
    expect(replicaQueries()).toBe(before);
  });

  it('takes a lagging replica out (bytes or time) and back in once replay resumes', async () => {
    const byBytes = router({ maxLagBytes: 0 });
    const byTime = router({ maxLagMillis: 300, name: 'db' });
    const failing = router({ maxLagBytes: 0, fallback: 'fail' });
    await Promise.all([untilState(byBytes, 'in'), untilState(byTime, 'in')]);
    await withReplayPaused(async () => {
      await byBytes.query(`INSERT INTO ${table} VALUES (2, 'lag')`);
      await untilState(byBytes, 'out');
      expect(byBytes.stats().replicas['db.replica-0']).toMatchObject({ reason: 'lag-bytes' });
      expect(byBytes.stats().replicas['db.replica-0']!.lagBytes).toBeGreaterThan(0);
      expect(await served(byBytes, true)).toBe('primary');
      await untilState(failing, 'out');
      await expect(served(failing, true)).rejects.toMatchObject({
        code: 'ERR_ROUTING_NO_REPLICA',
      });
      await untilState(byTime, 'out');
      expect(byTime.stats().replicas['db.replica-0']).toMatchObject({ reason: 'lag-millis' });
      expect(await served(byTime, true)).toBe('primary');
    });
    await Promise.all([untilState(byBytes, 'in'), untilState(byTime, 'in')]);
    expect(await served(byBytes, true)).toBe('replica');
    expect(byBytes.stats().replicas['db.replica-0']).toMatchObject({ lagBytes: 0, lagMillis: 0 });
  });

  it('never reads a stale answer with a read-your-writes token', async () => {
    const db = router(); // no lag limits: the paused replica stays in
    await untilState(db, 'in');
    const read = (id: number, hints: { after?: string } = {}) =>
      db.query<{ r: boolean; n: number }>({
        text: `SELECT pg_is_in_recovery() AS r, count(*)::int AS n FROM ${table} WHERE id = $1`,
        values: [id],
        replica: true,
        ...hints,
      });
    await withReplayPaused(async () => {
      const token = await db.withConsistency(async () => {
        await db.query(`INSERT INTO ${table} VALUES (3, 'ryw')`);
        const { rows } = await read(3);
        expect(rows[0]).toEqual({ r: false, n: 1 }); // the primary answered: it has the row
        return db.lastWriteToken();
      });
      expect(token).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      // Without the token the replica answers, without the row: the stale read tokens prevent.
      expect((await read(3)).rows[0]).toEqual({ r: true, n: 0 });
      // The token passed by hand works the same.
      expect((await read(3, { after: token! })).rows[0]).toEqual({ r: false, n: 1 });
    });
    // Once replayed, the replica can serve the token's reads.
    const token = await db.withConsistency(async () => {
      await db.query(`INSERT INTO ${table} VALUES (4, 'ryw')`);
      return db.lastWriteToken()!;
    });
    await until(async () => (await read(4, { after: token })).rows[0]!.r, 10_000);
    expect((await read(4, { after: token })).rows[0]).toEqual({ r: true, n: 1 });
  });

  it('retries a read cancelled by a recovery conflict (40001) on the primary', async () => {
    const standby = await adminClient(replicaUrl());
    await standby.query('ALTER SYSTEM SET max_standby_streaming_delay = 0');
    await standby.query('SELECT pg_reload_conf()');
    try {
      // Rounds only when the test asks: the suspected replica stays out for the test to see.
      const db = router({ monitorIntervalMillis: 600_000 });
      const conflicted = tableName('conflict');
      const primary = await adminClient(set.primary.url);
      await primary.query(`CREATE TABLE ${conflicted} AS SELECT i FROM generate_series(1, 1000) i`);
      await db.withConsistency(async () => {
        await db.query(`INSERT INTO ${conflicted} VALUES (0)`);
        await db.query({ text: `SELECT 1 FROM ${conflicted} LIMIT 1`, replica: true });
      });
      await until(
        async () =>
          (await standby.query(`SELECT to_regclass('${conflicted}') AS t`)).rows[0].t !== null,
      );
      await untilState(db, 'in');
      const text = `SELECT pg_is_in_recovery() AS r, (SELECT count(*)::int FROM ${conflicted}) AS n FROM pg_sleep(2)`;
      const read = db.query<{ r: boolean; n: number }>({ text, replica: true });
      await untilRunning(text, replicaUrl());
      // Vacuum removes rows the standby query's snapshot still sees: replaying that cancels it.
      await primary.query(`DELETE FROM ${conflicted}`);
      await primary.query(`VACUUM ${conflicted}`);
      const { rows } = await read;
      expect(rows[0]).toEqual({ r: false, n: 0 }); // answered again, by the primary
      expect(db.stats().replicas['db.replica-0']).toMatchObject({ reason: 'failing' });
    } finally {
      await standby.query('ALTER SYSTEM RESET max_standby_streaming_delay');
      await standby.query('SELECT pg_reload_conf()');
    }
  });

  it('routes around a crashed replica (degraded health) and readmits it after restart', async () => {
    const db = router();
    await untilState(db, 'in');
    expect(await served(db, true)).toBe('replica');
    await set.replicas[0]!.stop('immediate');
    try {
      // The read whose replica died under it is retried on the primary.
      expect(await served(db, true)).toBe('primary');
      await untilState(db, 'out');
      expect(db.stats().replicas['db.replica-0']).toMatchObject({ reason: 'failing' });
      expect(await served(db, true)).toBe('primary');
      const health = await db.health();
      expect(health.status).toBe('degraded');
      expect(health.members['db.replica-0']!.status).toBe('down');
    } finally {
      await set.replicas[0]!.start();
    }
    await untilState(db, 'in');
    expect(await served(db, true)).toBe('replica');
    expect((await db.health()).status).toBe('ok');
  });

  it('re-detects roles after a 25006 and retries the write on the real primary', async () => {
    await untilStreaming(set.primary.url, 1);
    // Misconfigured on purpose: the replica named as primary.
    const db = router({ primary: replicaUrl(), replicas: [set.primary.url] });
    const primaries: string[] = [];
    db.on('primary', (_pool, change: { member: string }) => primaries.push(change.member));
    await db.query(`INSERT INTO ${table} VALUES (5, 'moved')`);
    expect(db.stats().primary).toBe('db.replica-0');
    expect(primaries).toEqual(['db.replica-0']);
    expect(await served(db)).toBe('primary');
  });

  it('follows a promotion: writes go to the promoted replica once the primary is gone', async () => {
    const db = router();
    await untilState(db, 'in');
    await set.primary.stopServer();
    await set.replicas[0]!.promote();
    await until(async () => {
      await db.checkReplicas();
      return db.stats().primary === 'db.replica-0';
    }, 20_000);
    await db.query(`INSERT INTO ${table} VALUES (6, 'after failover')`);
    expect(await served(db)).toBe('primary');
    // Reads that opt in fall back to the new primary: the old one is down, no replica is left.
    expect(await served(db, true)).toBe('primary');
    expect(db.stats().replicas['db.primary']).toMatchObject({ state: 'out' });
  });
});
