/**
 * CorkBatch holds every lane's writes until the check phase of the loop iteration they were
 * made in: past the microtasks and next ticks of the read that caused them (so the reads of
 * other sockets in the same iteration add to the same writes), and never into a later one.
 */
import { describe, expect, it } from 'vitest';

import { CorkBatch } from '../../src/pg/pipeline/cork-batch.js';

function lane(log: string[], name: string) {
  return { uncork: () => log.push(`uncork ${name}`) };
}

describe('CorkBatch', () => {
  it('uncorks every lane once, after the ticks and microtasks of the turn', async () => {
    const log: string[] = [];
    const batch = new CorkBatch();
    const a = lane(log, 'a');
    const b = lane(log, 'b');
    const flushed = new Promise<void>((resolve) => setImmediate(resolve));
    batch.add(a);
    process.nextTick(() => {
      log.push('tick');
      batch.add(b); // a second socket's answers, read in the same iteration
    });
    queueMicrotask(() => log.push('microtask'));
    await flushed; // queued before the batch's own immediate: runs first
    expect([...log].sort()).toEqual(['microtask', 'tick']);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(log.slice(2)).toEqual(['uncork a', 'uncork b']);
  });

  it('starts a new batch after a flush', async () => {
    const log: string[] = [];
    const batch = new CorkBatch();
    batch.add(lane(log, 'first'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    batch.add(lane(log, 'second'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(log).toEqual(['uncork first', 'uncork second']);
  });
});
