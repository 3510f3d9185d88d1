/**
 * Core pools sharing a ConnectionBudget: the pool takes a slot before each creation, gives it
 * back once the resource is destroyed (not before), waits for a slot when the budget is full,
 * yields returning resources and idle ones to a pool below its share, and leaves at end().
 */
import { describe, expect, it } from 'vitest';
import { ConnectionBudget, InvalidOptionError } from '../../src/core/index.js';
import { hangForever, ok } from './support/fake-factory.js';
import { advance, flush, makePool, track, useFakeClock } from './support/harness.js';

useFakeClock();

function budgetOf(max: number): ConnectionBudget {
  return new ConnectionBudget({ max, name: 'test' });
}

function usedBy(budget: ConnectionBudget): Record<string, number> {
  return Object.fromEntries(budget.stats().members.map((m) => [m.name, m.used]));
}

describe('pools sharing a budget', () => {
  it('refuses a budget that is not a ConnectionBudget', () => {
    expect(() => makePool({ budget: { max: 3 } as never })).toThrow(InvalidOptionError);
  });

  it('joins under its name with its min and max, and counts each creation against the cap', async () => {
    const budget = budgetOf(3);
    const { pool: a } = makePool({ name: 'a', max: 3 });
    const { pool: b, fake } = makePool({ name: 'b', max: 3, budget });
    const { pool: c } = makePool({ name: 'c', max: 3, min: 1, warmMin: false, budget });
    expect(budget.stats().members.map((m) => [m.name, m.min, m.max])).toEqual([
      ['b', 0, 3],
      ['c', 1, 3],
    ]);
    // c's minimum is kept free: b gets two of the three slots, and its third caller waits.
    const held = [await b.acquire(), await b.acquire()];
    const third = track(b.acquire());
    await flush();
    expect(fake.calls.create).toBe(2);
    expect(third.status).toBe('pending');
    expect(b.stats()).toMatchObject({ total: 2, waiting: 1 });
    expect(usedBy(budget)).toEqual({ b: 2, c: 0 });
    const fromC = await c.acquire();
    expect(usedBy(budget)).toEqual({ b: 2, c: 1 });
    c.release(fromC);
    b.release(held[0]!);
    b.release(held[1]!);
    await flush();
    expect(third.value).toBe(held[0]); // the first one back goes straight to the waiter
    expect(a.stats().total).toBe(0); // not a member: unaffected
  });

  it('gives the slot back only once the destroy has settled, then the waiting pool creates', async () => {
    const budget = budgetOf(1);
    const { pool: a, fake: fa } = makePool({ name: 'a', max: 1, budget });
    const { pool: b, fake: fb } = makePool({ name: 'b', max: 1, budget });
    fa.script('destroy', ok(50));
    const resource = await a.acquire();
    const waiter = track(b.acquire());
    await flush();
    expect(budget.stats().members.find((m) => m.name === 'b')?.wanting).toBe(1);
    a.release(resource, new Error('broken'));
    await advance(49);
    expect(fb.calls.create).toBe(0); // a's connection is still closing: the server still has it
    await advance(1);
    expect(fb.calls.create).toBe(1);
    await flush();
    expect(waiter.status).toBe('resolved');
    expect(usedBy(budget)).toEqual({ a: 0, b: 1 });
  });

  it('keeps the slot of a failed creation until the factory call has settled', async () => {
    const budget = budgetOf(1);
    const { pool: a, fake } = makePool({
      name: 'a',
      max: 1,
      budget,
      createTimeoutMillis: 100,
      createRetryBaseMillis: 10,
      createRetryMaxMillis: 10,
    });
    // The first attempt ignores its abort: the connection might still turn up.
    fake.script('create', hangForever(), ok());
    const waiter = track(a.acquire());
    await advance(150);
    expect(fake.calls.create).toBe(1); // the retry found no slot: the first attempt holds it
    expect(usedBy(budget)).toEqual({ a: 1 });
    expect(budget.stats().members[0]?.wanting).toBe(1);
    await advance(60); // the abandoned attempt's grace period (its timeout again) is over
    expect(fake.calls.create).toBe(2);
    await flush();
    expect(waiter.status).toBe('resolved');
    expect(usedBy(budget)).toEqual({ a: 1 });
  });

  it('yields a returning resource to a pool below its share that waits', async () => {
    const budget = budgetOf(2);
    const { pool: big } = makePool({ name: 'big', max: 2, budget });
    const { pool: small, fake: fs } = makePool({ name: 'small', max: 2, budget });
    const held = [await big.acquire(), await big.acquire()];
    const bigWaiter = track(big.acquire());
    const smallWaiter = track(small.acquire());
    await flush();
    big.release(held[0]!);
    await flush();
    expect(big.stats().destroys.budget).toBe(1);
    expect(fs.calls.create).toBe(1);
    await flush();
    expect(smallWaiter.status).toBe('resolved');
    expect(bigWaiter.status).toBe('pending');
    expect(usedBy(budget)).toEqual({ big: 1, small: 1 });
  });

  it('closes idle resources, oldest first, for a pool that waits', async () => {
    const budget = budgetOf(2);
    const { pool: a, fake: fa } = makePool({ name: 'a', max: 2, budget });
    const { pool: b } = makePool({ name: 'b', max: 2, budget });
    const first = await a.acquire();
    const second = await a.acquire();
    a.release(first);
    await advance(10);
    a.release(second);
    await flush();
    expect(a.stats().idle).toBe(2);
    const waiter = track(b.acquire());
    await flush();
    expect(fa.destroyReasons).toEqual(['budget']);
    expect(fa.destroyed).toEqual([first]);
    await flush();
    expect(waiter.status).toBe('resolved');
  });

  it('leaves the budget at end(), once its resources are closed', async () => {
    const budget = budgetOf(2);
    const { pool: a } = makePool({ name: 'a', max: 2, min: 1, budget });
    const resource = await a.acquire();
    a.release(resource);
    await a.end();
    expect(budget.stats()).toMatchObject({ used: 0, members: [] });
    // The name is free again: a new pool may join under it.
    const { pool: again } = makePool({ name: 'a', max: 2, budget });
    expect(again.stats().total).toBe(0);
  });
});
