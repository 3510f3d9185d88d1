/**
 * What makes a statement slow (src/pg/pipeline/slow-statements.ts) and probation, on its own: no database involved.
 * Times are made up; only their order and differences matter.
 */
import { describe, expect, it } from 'vitest';

import { WaitQueue } from '../../src/core/wait-queue.js';
import { Probation } from '../../src/pg/pipeline/probation.js';
import { Band, kBands, PipelinedQuery } from '../../src/pg/pipeline/query.js';
import { SlowStatements } from '../../src/pg/pipeline/slow-statements.js';

const THRESHOLD = 10;

describe('SlowStatements', () => {
  it('marks a statement slow after three slow runs one after the other', () => {
    const stats = new SlowStatements(THRESHOLD);
    expect(stats.observeSlow('q', 0, 50)).toBe(false);
    expect(stats.observeSlow('q', 50, 100)).toBe(false);
    expect(stats.isSlow('q')).toBe(false);
    expect(stats.observeSlow('q', 100, 150)).toBe(true);
    expect(stats.isSlow('q')).toBe(true);
    expect(stats.isSlow('other')).toBe(false);
    expect(stats.size).toBe(1);
  });

  it('counts runs that were slow at the same time once: a stall makes every head look slow', () => {
    const stats = new SlowStatements(THRESHOLD);
    // Four lanes' heads, all in service since before a 30 ms stall, all seen at its end ...
    for (let lane = 0; lane < 4; lane++) stats.observeSlow('q', lane, 30);
    // ... and each answered then (the same runs again).
    for (let lane = 0; lane < 4; lane++) stats.observeSlow('q', lane, 31);
    expect(stats.isSlow('q')).toBe(false);
  });

  it('is cleared by fast answers: a statement slow now and then stays pipelined', () => {
    const stats = new SlowStatements(THRESHOLD);
    let now = 0;
    for (let round = 0; round < 20; round++) {
      stats.observeSlow('q', now, now + 20);
      now += 20;
      for (let i = 0; i < 3; i++) stats.observeFast('q');
    }
    expect(stats.isSlow('q')).toBe(false);
    expect(stats.suspicious).toBe(true);
    for (let i = 0; i < 10; i++) stats.observeFast('q');
    expect(stats.suspicious).toBe(false);
  });

  it('unmarks a statement once its isolated runs average under half the threshold', () => {
    const stats = new SlowStatements(THRESHOLD);
    for (let i = 0; i < 3; i++) stats.observeSlow('q', i * 50, i * 50 + 50);
    expect(stats.observeIsolated('q', 50)).toBe(false); // still slow
    let runs = 0;
    while (stats.isSlow('q')) {
      stats.observeIsolated('q', 0.5);
      runs++;
    }
    // From 50 ms (the cap is 8 x 10 ms), halving towards 0.5 ms: under 5 ms after 4 runs.
    expect(runs).toBe(4);
    expect(stats.observeIsolated('q', 100)).toBe(false); // unknown now: nothing to update
  });

  it('starts a statement that ran very long from a capped average, so a few fast runs bring it back', () => {
    const stats = new SlowStatements(THRESHOLD);
    for (let i = 0; i < 3; i++) stats.observeSlow('q', i * 10_000, i * 10_000 + 10_000);
    let runs = 0;
    while (stats.isSlow('q')) {
      stats.observeIsolated('q', 1);
      runs++;
    }
    expect(runs).toBeLessThanOrEqual(5);
  });

  it('forgets suspects that were not confirmed within 10 000 fast answers', () => {
    const stats = new SlowStatements(THRESHOLD);
    stats.observeSlow('rare', 0, 50); // seen slow once, never again
    stats.observeSlow('q', 0, 50);
    for (let i = 0; i < 9_999; i++) stats.observeFast('other');
    expect(stats.suspicious).toBe(true);
    stats.observeFast('other');
    expect(stats.suspicious).toBe(false);
  });

  it('remembers a bounded number of statements, forgetting the oldest first', () => {
    const stats = new SlowStatements(THRESHOLD, 3);
    const mark = (text: string) => {
      for (let i = 0; i < 3; i++) stats.observeSlow(text, i * 50, i * 50 + 50);
    };
    for (const text of ['a', 'b', 'c', 'd']) mark(text);
    expect(stats.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((t) => stats.isSlow(t))).toEqual([false, true, true, true]);
  });
});

describe('markSlow (a burst of a new statement whose first run was slow)', () => {
  it('marks at once, and the isolated runs unmark it if it was a fluke', () => {
    const statements = new SlowStatements(10);
    statements.markSlow('SELECT report()', 1_500);
    expect(statements.isSlow('SELECT report()')).toBe(true);
    // Its average starts capped at 8x the threshold (80 ms): a few fast runs bring it back.
    let runs = 0;
    while (!statements.observeIsolated('SELECT report()', 1)) runs++;
    expect(runs).toBeLessThanOrEqual(4);
    expect(statements.isSlow('SELECT report()')).toBe(false);
  });
});

describe('Probation', () => {
  const setup = (capacity?: number) => {
    const queue = new WaitQueue<PipelinedQuery>(
      {
        acquireTimeoutMillis: Infinity,
        maxWaiting: Infinity,
        overloadTargetMillis: 0,
        overloadIntervalMillis: 100,
      },
      () => 0,
      { expired: () => {}, shed: () => {} },
      undefined,
      kBands,
    );
    const statements = new SlowStatements(THRESHOLD);
    return { queue, statements, probation: new Probation(queue, statements, capacity) };
  };
  const entry = (text: string, fast = true) => {
    const e = new PipelinedQuery(
      text,
      undefined,
      () => {},
      () => {},
    );
    e.answeredFast = fast;
    return e;
  };

  it('lets known statements go, sends one pioneer of a new one, holds the rest for its verdict', () => {
    const { queue, probation } = setup();
    expect(probation.admit('A')).toBe('pioneer');
    expect(probation.admit('A')).toBe('hold');
    const [a1, a2, b1] = [entry('A'), entry('A'), entry('B')];
    queue.push(a1, Band.Held);
    expect(probation.admit('B')).toBe('pioneer');
    queue.push(b1, Band.Held);
    queue.push(a2, Band.Held);
    // A's pioneer answered fast: A's held runs go to the lanes first, in order; B's stay held.
    expect(probation.settled(entry('A'), false)).toBe(true);
    expect([...queue.drain(Band.Retry)]).toEqual([a1, a2]);
    expect([...queue.drain(Band.Held)]).toEqual([b1]);
    expect(probation.admit('A')).toBe('go');
    // B's was slow: not known, so its next run is a pioneer again.
    expect(probation.settled(entry('B', false), false)).toBe(false);
    expect(probation.admit('B')).toBe('pioneer');
  });

  it('sends the held runs of a slow pioneer apart, and marks the statement slow', () => {
    const { queue, statements, probation } = setup();
    probation.admit('S');
    const held = entry('S');
    queue.push(held, Band.Held);
    const pioneer = entry('S', false);
    pioneer.serviceStart = 0;
    pioneer.answeredAt = 50;
    expect(probation.settled(pioneer, false)).toBe(true);
    expect([...queue.drain(Band.Isolated)]).toEqual([held]);
    expect(statements.isSlow('S')).toBe(true);
  });

  it('fails the held runs with ERR_POOL_CLOSED once the pool is closed', () => {
    const { queue, probation } = setup();
    probation.admit('A');
    const errors: unknown[] = [];
    queue.push(
      new PipelinedQuery(
        'A',
        undefined,
        () => {},
        (e) => errors.push(e),
      ),
      Band.Held,
    );
    expect(probation.settled(entry('A'), true)).toBe(false);
    expect(errors).toMatchObject([{ code: 'ERR_POOL_CLOSED' }]);
    expect(queue.size).toBe(0);
  });

  it('forgets the oldest known statement beyond its capacity', () => {
    const { probation } = setup(2);
    for (const text of ['A', 'B', 'C']) {
      probation.admit(text);
      probation.settled(entry(text), false);
    }
    expect(probation.admit('C')).toBe('go');
    expect(probation.admit('A')).toBe('pioneer');
  });
});
