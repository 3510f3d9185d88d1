/**
 * The pipelined dispatcher (src/pg/pipeline/dispatcher.ts) against scripted fake pg clients
 * under fake timers: its one wait queue (timeouts, shedding, maxWaiting), `counts()`,
 * `whenIdle()` and `close()`, with and without probation, and a burst of a new slow statement
 * (the unit counterpart of test/pg/pipeline-isolation.test.ts's, counted write by write).
 */
import { describe, expect, it, vi } from 'vitest';

import { AcquireTimeoutError, OverloadedError, QueueFullError } from '../../src/core/index.js';
import { advance, flush, track } from '../core/support/harness.js';
import { makeRig, useFakePg, type FakeClient, type Written } from './support/fake-pg.js';

useFakePg();

describe('the pipelined dispatcher', () => {
  it('fails a query that waits longer than acquireTimeoutMillis, and only that one', async () => {
    const rig = makeRig({ max: 1, acquireTimeoutMillis: 500 }, { depth: 1 });
    const running = track(rig.query('SELECT stalled'));
    const waiting = track(rig.query('SELECT 2'));
    await advance(499);
    expect(waiting.status).toBe('pending');
    await advance(1);
    // pg.Pool's plain Error, lifeguard's AcquireTimeoutError as its cause.
    const error = waiting.error as Error;
    expect(error.constructor).toBe(Error);
    expect(error.message).toMatch(/^timeout exceeded when trying to connect/);
    expect(error.cause).toBeInstanceOf(AcquireTimeoutError);
    expect((error.cause as AcquireTimeoutError).waitedMillis).toBe(500);
    expect(rig.dispatcher.counts()).toMatchObject({ timeouts: 1, waiting: 0 });
    rig.clients[0]!.answer();
    await flush();
    expect(running.status).toBe('resolved');
  });

  it('times every waiting query out with one timer, whatever the load', async () => {
    const rig = makeRig({ max: 1, acquireTimeoutMillis: 1_000 }, { depth: 1 });
    void rig.query('SELECT stalled');
    await flush();
    void rig.query('SELECT waiting');
    const timers = vi.getTimerCount();
    for (let n = 0; n < 100; n++) void rig.query(`SELECT ${n}`);
    expect(vi.getTimerCount()).toBe(timers);
    await advance(1_000);
    expect(rig.dispatcher.counts()).toMatchObject({ timeouts: 101, waiting: 0 });
  });

  it('sheds queries that waited past the target while the queue stood', async () => {
    const rig = makeRig(
      { max: 1, acquireTimeoutMillis: 60_000, overloadTargetMillis: 50 },
      { depth: 1 },
    );
    void rig.query('SELECT stalled');
    const old = [1, 2].map((n) => track(rig.query(`SELECT ${n}`)));
    await advance(200);
    const young = track(rig.query('SELECT young'));
    await advance(10);
    rig.clients[0]!.answer();
    await flush();
    for (const query of old) expect(query.error).toBeInstanceOf(OverloadedError);
    expect(young.status).toBe('pending');
    expect(rig.clients[0]!.pending.map((w) => w.text)).toEqual(['SELECT young']);
    expect(rig.dispatcher.counts().shed).toBe(2);
  });

  it('refuses queries beyond maxWaiting, and counts them', async () => {
    const rig = makeRig({ max: 1, maxWaiting: 2 }, { depth: 1 });
    void rig.query('SELECT stalled');
    await flush();
    void rig.query('SELECT 1');
    void rig.query('SELECT 2');
    const refused = track(rig.query('SELECT 3'));
    await flush();
    expect(refused.error).toBeInstanceOf(QueueFullError);
    expect(rig.dispatcher.counts()).toMatchObject({ waiting: 2, rejectedQueueFull: 1 });
  });

  it('counts() is a snapshot of what it holds', async () => {
    const rig = makeRig({ max: 2 }, { depth: 1 });
    expect(rig.dispatcher.counts()).toEqual({
      waiting: 0,
      acquiring: 0,
      idle: 0,
      shed: 0,
      timeouts: 0,
      rejectedQueueFull: 0,
    });
    for (let n = 0; n < 3; n++) void rig.query(`SELECT ${n}`);
    expect(rig.dispatcher.counts()).toMatchObject({ waiting: 3, acquiring: 2 });
    await flush();
    expect(rig.dispatcher.counts()).toMatchObject({ waiting: 1, acquiring: 0 });
  });

  it('whenIdle() resolves once every lane is back; close() fails what waits', async () => {
    const rig = makeRig({ max: 1 }, { depth: 1 });
    const running = track(rig.query('SELECT 1'));
    const waiting = track(rig.query('SELECT 2'));
    await flush();
    const idle = track(rig.dispatcher.whenIdle(10_000));
    rig.clients[0]!.answer();
    await flush();
    expect(idle.status).toBe('pending'); // SELECT 2 took the lane
    rig.dispatcher.close();
    const late = track(rig.query('SELECT 3')); // the exclusive path: the core is still open
    rig.clients[0]!.answer();
    await flush();
    expect(running.status).toBe('resolved');
    expect(waiting.status).toBe('resolved');
    expect(idle.status).toBe('resolved');
    expect(rig.core.inUse).toBe(1); // SELECT 3, on the exclusive path
    rig.clients[0]!.answer();
    await flush();
    expect(late.status).toBe('resolved');
  });
});

describe('close() while probation holds queries', () => {
  const isolating = { isolateSlowQueries: true, slowQueryMillis: 10, depth: 1 } as const;

  it('fails the held runs of an in-flight first run with ERR_POOL_CLOSED; the first run finishes', async () => {
    const rig = makeRig({ max: 3 }, isolating);
    const pioneer = track(rig.query('SELECT new'));
    const held = [1, 2].map(() => track(rig.query('SELECT new')));
    await flush();
    expect(rig.clients[0]!.pending).toHaveLength(1);
    expect(rig.dispatcher.counts().waiting).toBe(2);
    rig.dispatcher.close();
    await flush();
    for (const run of held) expect(run.error).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    rig.clients[0]!.answer();
    await flush();
    expect(pioneer.status).toBe('resolved');
  });

  it('fails a waiting first run and the runs held behind it: none is left pending', async () => {
    const rig = makeRig({ max: 3 }, isolating);
    // One lane, full: what follows waits in the dispatcher, the first run of a new statement too.
    void rig.query('SELECT stalled');
    await flush();
    void rig.query('SELECT stalled'); // known now? no: held behind the first 'SELECT stalled'
    const queries = [track(rig.query('SELECT new')), track(rig.query('SELECT new'))];
    rig.dispatcher.close();
    await flush();
    for (const query of queries) expect(query.error).toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(rig.dispatcher.counts().waiting).toBe(0);
  });

  it('sends the held runs apart when the first run was slow, to the lanes when it was fast', async () => {
    const rig = makeRig({ max: 4 }, { ...isolating, depth: 4 });
    void rig.query('SELECT fast');
    void rig.query('SELECT fast');
    void rig.query('SELECT slow');
    void rig.query('SELECT slow');
    await flush();
    // Two new statements: the second is not written behind the first on a lane that has
    // answered nothing yet (nothing is known of either answer), but onto a lane of its own.
    const [lane, other] = rig.clients;
    const texts = (client: FakeClient | undefined) => client!.pending.map((w) => w.text);
    expect(texts(lane)).toEqual(['SELECT fast']);
    expect(texts(other)).toEqual(['SELECT slow']);
    lane!.answer(); // fast, at once: its held run goes onto the lane
    await flush();
    expect(texts(lane)).toEqual(['SELECT fast']);
    await advance(50);
    other!.answer(); // slow: its held run runs apart, on a connection of its own
    await flush();
    expect(texts(lane)).toEqual(['SELECT fast']);
    const apart = rig.clients.slice(1).flatMap(texts);
    expect(apart).toEqual(['SELECT slow']);
    expect(rig.dispatcher.counts().waiting).toBe(0);
  });
});

describe('a burst of a new statement', () => {
  const burst = 'SELECT burst';
  const isBurst = (w: Written): boolean => w.text === burst;
  const settings = { isolateSlowQueries: true, slowQueryMillis: 10, depth: 4 } as const;

  it('writes only its first run onto a lane; once that run proves slow, the nine others run apart, several at a time', async () => {
    const rig = makeRig({ max: 10 }, settings);
    // Connections open and idle, as a pool under load has them: isolated runs take only those.
    const open = await Promise.all(Array.from({ length: 10 }, () => rig.checkout.acquire()));
    for (const connection of open) rig.checkout.release(connection);
    await flush();
    const runs = Array.from({ length: 10 }, () => track(rig.query(burst)));
    await flush();
    // The first run alone is written; the other nine wait for its verdict.
    const lane = rig.clients.find((c) => c.writes.some(isBurst))!;
    expect(rig.clients.flatMap((c) => c.writes.filter(isBurst))).toHaveLength(1);
    expect(rig.dispatcher.counts().waiting).toBe(9);
    await advance(50);
    lane.answer(lane.pending.find(isBurst));
    await flush();
    expect(runs[0]!.status).toBe('resolved');
    // Slow: the nine run apart, each alone on a connection, at most max - 2 at once (two
    // connections are left for the lanes); the ninth waits for one of them.
    const apart = rig.clients.filter((c) => c.pending.some(isBurst));
    expect(apart).toHaveLength(8);
    for (const client of apart) expect(client.pending).toHaveLength(1);
    expect(rig.dispatcher.counts().waiting).toBe(1);
    // A fast query sent meanwhile goes onto a lane with no run of the burst on it.
    const fast = track(rig.query('SELECT fast'));
    await flush();
    const fastLane = rig.clients.find((c) => c.pending.some((w) => w.text === 'SELECT fast'))!;
    expect(fastLane.pending).toHaveLength(1);
    fastLane.answer();
    await flush();
    expect(fast.status).toBe('resolved');
  });

  it('the control: without isolation the burst is written onto the lanes at once, stacked', async () => {
    const rig = makeRig({ max: 10 }, { ...settings, isolateSlowQueries: false });
    for (let i = 0; i < 10; i++) void rig.query(burst);
    await flush();
    const stacked = rig.clients.map((c) => c.pending.filter(isBurst).length);
    expect(stacked.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...stacked)).toBe(settings.depth);
  });
});
