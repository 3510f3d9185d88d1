import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FifoQueue } from '../../src/core/fifo-queue.js';

/** One ring holds 2048 slots, one of which always stays empty to tell "full" from "empty". */
const kRingCapacity = 2047;

function fill(queue: FifoQueue<number>, from: number, count: number): void {
  for (let i = from; i < from + count; i++) queue.push(i);
}

function shiftAll(queue: FifoQueue<number>): number[] {
  const out: number[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) out.push(item);
  return out;
}

const range = (from: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => from + i);

describe('FifoQueue', () => {
  it('is empty when new: length 0, shift and peek return undefined', () => {
    const queue = new FifoQueue<number>();
    expect(queue.length).toBe(0);
    expect(queue.isEmpty()).toBe(true);
    expect(queue.shift()).toBeUndefined();
    expect(queue.peek()).toBeUndefined();
    expect(queue.length).toBe(0);
  });

  it('gives items back in the order they were pushed', () => {
    const queue = new FifoQueue<string>();
    queue.push('a');
    queue.push('b');
    queue.push('c');
    expect(queue.length).toBe(3);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([
      'a',
      'b',
      'c',
      undefined,
    ]);
    expect(queue.isEmpty()).toBe(true);
  });

  it('peeks at the oldest item without removing it', () => {
    const queue = new FifoQueue<number>();
    queue.push(1);
    queue.push(2);
    expect(queue.peek()).toBe(1);
    expect(queue.peek()).toBe(1);
    expect(queue.length).toBe(2);
    expect(queue.shift()).toBe(1);
    expect(queue.peek()).toBe(2);
  });

  it('keeps falsy items that are not undefined', () => {
    const queue = new FifoQueue<number | null | string | boolean>();
    for (const item of [0, null, '', false]) queue.push(item);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([
      0,
      null,
      '',
      false,
    ]);
  });

  it('holds exactly 2047 items in one ring and gives them back in order', () => {
    const queue = new FifoQueue<number>();
    fill(queue, 0, kRingCapacity);
    expect(queue.length).toBe(2047);
    expect(queue.peek()).toBe(0);
    expect(shiftAll(queue)).toEqual(range(0, 2047));
    expect(queue.isEmpty()).toBe(true);
  });

  it('links a second ring at the 2048th item without losing or reordering anything', () => {
    const queue = new FifoQueue<number>();
    fill(queue, 0, 2048);
    expect(queue.length).toBe(2048);
    expect(shiftAll(queue)).toEqual(range(0, 2048));
    expect(queue.length).toBe(0);
  });

  it('moves to the next ring exactly when the first one is drained', () => {
    const queue = new FifoQueue<number>();
    fill(queue, 0, 2049);
    for (let i = 0; i < 2046; i++) queue.shift();
    expect(queue.peek()).toBe(2046); // the last item of the first ring
    expect(queue.shift()).toBe(2046);
    expect(queue.peek()).toBe(2047); // the first item of the second ring
    expect(queue.length).toBe(2);
    // Pushing now writes into the second ring, after its existing items.
    queue.push(5000);
    expect(shiftAll(queue)).toEqual([2047, 2048, 5000]);
  });

  it('wraps around the end of a ring and still fills it to exactly 2047 items', () => {
    const queue = new FifoQueue<number>();
    // Move the ring's start to slot 2000, so the next 2047 pushes wrap past slot 2047.
    fill(queue, 0, 2000);
    expect(shiftAll(queue)).toEqual(range(0, 2000));
    fill(queue, 10_000, kRingCapacity);
    expect(queue.length).toBe(2047);
    queue.push(99_999); // one more than a ring holds: links a new ring
    expect(queue.length).toBe(2048);
    expect(shiftAll(queue)).toEqual([...range(10_000, 2047), 99_999]);
  });

  it('handles many linked rings, interleaving pushes and shifts', () => {
    const queue = new FifoQueue<number>();
    const total = 5 * 2048 + 3;
    fill(queue, 0, total);
    expect(queue.length).toBe(total);
    const out: number[] = [];
    // Take 3 out for every 2 put in, until everything is out.
    let next = total;
    while (!queue.isEmpty()) {
      for (let i = 0; i < 3; i++) {
        const item = queue.shift();
        if (item !== undefined) out.push(item);
      }
      if (next < total + 4000) {
        queue.push(next++);
        queue.push(next++);
      }
    }
    expect(out).toEqual(range(0, next));
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('can be reused after being emptied across ring boundaries', () => {
    const queue = new FifoQueue<number>();
    for (let round = 0; round < 3; round++) {
      fill(queue, round * 10_000, 4100);
      expect(shiftAll(queue)).toEqual(range(round * 10_000, 4100));
      expect(queue.peek()).toBeUndefined();
    }
  });

  it('drains every item, oldest first, leaving it empty', () => {
    const queue = new FifoQueue<number>();
    fill(queue, 0, 3000);
    expect([...queue.drain()]).toEqual(range(0, 3000));
    expect(queue.length).toBe(0);
  });

  it('behaves like an array used as a queue, for any sequence of pushes and shifts', () => {
    // Runs long enough to cross ring boundaries several times.
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ shift: fc.integer({ min: 1, max: 3000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        const queue = new FifoQueue<number>();
        const model: number[] = [];
        let next = 0;
        for (const step of ops) {
          if ('push' in step) {
            for (let i = 0; i < step.push; i++) {
              queue.push(next);
              model.push(next++);
            }
          } else {
            for (let i = 0; i < step.shift; i++) expect(queue.shift()).toBe(model.shift());
          }
          expect(queue.length).toBe(model.length);
          expect(queue.peek()).toBe(model[0]);
        }
      }),
      { numRuns: 60 },
    );
  });
});
