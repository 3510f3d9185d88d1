import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueFullError } from '../../src/core/errors.js';
import { WaitQueue, type WaitQueueOptions } from '../../src/core/wait-queue.js';
import { fakeTimerConfig } from './support/harness.js';

interface Entry {
  readonly name: string;
  enqueuedAt: number;
  settled?: boolean;
}

const defaults: WaitQueueOptions = {
  acquireTimeoutMillis: 1_000,
  maxWaiting: Infinity,
  overloadTargetMillis: 0,
  overloadIntervalMillis: 100,
};

function makeQueue(options: Partial<WaitQueueOptions> = {}, bands = 1) {
  const expired: string[] = [];
  const shed: string[] = [];
  let expiries = 0;
  const now = (): number => performance.now();
  const queue: WaitQueue<Entry> = new WaitQueue<Entry>(
    { ...defaults, ...options },
    now,
    {
      expired: (entry) => expired.push(entry.name),
      shed: (entry) => shed.push(entry.name),
      afterExpiry: () => expiries++,
    },
    undefined,
    bands,
  );
  const push = (name: string, band = 0): Entry => {
    const entry = { name, enqueuedAt: now() };
    queue.push(entry, band);
    return entry;
  };
  return { queue, push, expired, shed, expiries: () => expiries };
}

beforeEach(() => {
  vi.useFakeTimers(fakeTimerConfig);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WaitQueue', () => {
  it('serves each band in order and counts waiters over all bands', () => {
    const { queue, push } = makeQueue({}, 2);
    push('a');
    push('x', 1);
    push('b');
    expect(queue.size).toBe(3);
    expect(queue.sizeOf(0)).toBe(2);
    expect(queue.next(1)?.name).toBe('x');
    expect(queue.next()?.name).toBe('a');
    expect(queue.peek()?.name).toBe('b');
    expect(queue.next()?.name).toBe('b');
    expect(queue.next()).toBeUndefined();
    expect(queue.size).toBe(0);
  });

  it('refuses past maxWaiting, all bands together, and counts the refusals', () => {
    const { queue, push } = makeQueue({ maxWaiting: 2 }, 2);
    push('a');
    expect(queue.full()).toBeUndefined();
    push('b', 1);
    const refusal = queue.full();
    expect(refusal).toBeInstanceOf(QueueFullError);
    expect(queue.counters.rejectedQueueFull).toBe(1);
  });

  it('times out every band with one timer, oldest first, and counts the timeouts', async () => {
    const { queue, push, expired, expiries } = makeQueue({}, 3);
    push('a', 2);
    await vi.advanceTimersByTimeAsync(400);
    push('b', 0);
    push('c', 1);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(600);
    expect(expired).toEqual(['a']);
    expect(queue.size).toBe(2);
    await vi.advanceTimersByTimeAsync(400);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(queue.counters.timeouts).toBe(3);
    expect(queue.size).toBe(0);
    expect(expiries()).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sets no timer when served before the deadline; the one armed fires once and re-arms', async () => {
    const { queue, push, expired } = makeQueue();
    push('a');
    await vi.advanceTimersByTimeAsync(500);
    queue.next();
    push('b'); // no new timer: the one for 'a' is still armed
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(500); // a's deadline: nobody's any more
    expect(expired).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(expired).toEqual(['b']);
  });

  it('skips waiters flagged as given up, which cancel() took out of the count', () => {
    const { queue, push } = makeQueue();
    const a = push('a');
    push('b');
    expect(queue.cancel(a)).toBe(true);
    a.settled = true;
    expect(queue.cancel(a)).toBe(false);
    expect(queue.size).toBe(1);
    expect(queue.next()?.name).toBe('b');
  });

  it('sheds only from band 0, only once it has stood for the interval', async () => {
    const { queue, push, shed } = makeQueue(
      { overloadTargetMillis: 60, overloadIntervalMillis: 100 },
      2,
    );
    push('old');
    push('retry', 1);
    await vi.advanceTimersByTimeAsync(50);
    push('young');
    await vi.advanceTimersByTimeAsync(50); // busy 100 ms: old waited 100, young 50
    expect(queue.next(1)?.name).toBe('retry');
    expect(queue.serve(performance.now())?.name).toBe('young');
    expect(shed).toEqual(['old']);
    expect(queue.counters.shed).toBe(1);
    // Emptied: the busy period starts again with the next waiter.
    push('fresh');
    await vi.advanceTimersByTimeAsync(50);
    expect(queue.serve(performance.now())?.name).toBe('fresh');
  });

  it('drains a band up to a time, and extracts matching waiters keeping the order', async () => {
    const { queue, push } = makeQueue({}, 2);
    push('a1');
    await vi.advanceTimersByTimeAsync(10);
    const cut = performance.now();
    push('b1');
    await vi.advanceTimersByTimeAsync(10);
    push('a2');
    push('a3', 1);
    expect([...queue.drain(0, cut)].map((e) => e.name)).toEqual(['a1', 'b1']);
    expect(queue.size).toBe(2);
    push('b2');
    push('a4');
    const taken = queue.extract(0, (e) => e.name.startsWith('a'));
    expect(taken.map((e) => e.name)).toEqual(['a2', 'a4']);
    expect(queue.sizeOf(0)).toBe(1);
    expect([...queue.drain(0)].map((e) => e.name)).toEqual(['b2']);
    expect([...queue.drain(1)].map((e) => e.name)).toEqual(['a3']);
    expect(queue.size).toBe(0);
  });

  it('keeps one timer when an expiry handler queues more waiters', async () => {
    const expired: string[] = [];
    const queue: WaitQueue<Entry> = new WaitQueue<Entry>(defaults, () => performance.now(), {
      expired: (entry) => {
        expired.push(entry.name);
        if (entry.name === 'a') queue.push({ name: 'b', enqueuedAt: performance.now() });
      },
      shed: () => {},
    });
    queue.push({ name: 'a', enqueuedAt: performance.now() });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(expired).toEqual(['a']);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(expired).toEqual(['a', 'b']);
  });

  it('close() stops the timer', () => {
    const { queue, push } = makeQueue();
    push('a');
    queue.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
