import { describe, expect, it } from 'vitest';
import { BudgetError, ConnectionBudget, type BudgetHooks } from '../../src/core/index.js';
import { BudgetPool } from './support/budget-pool.js';

const noHooks: BudgetHooks = { offer: () => false, shedIdle: () => 0 };

function usedBy(budget: ConnectionBudget): Record<string, number> {
  return Object.fromEntries(budget.stats().members.map((m) => [m.name, m.used]));
}

describe('ConnectionBudget: options and joining', () => {
  it.each([0, -1, 1.5, Number.NaN, Infinity, '3', undefined])('rejects max %s', (max) => {
    expect(() => new ConnectionBudget({ max: max as number })).toThrow(
      new TypeError(`ConnectionBudget: max must be a positive integer, got ${String(max)}`),
    );
  });

  it('rejects a join whose minimum would not fit, naming both numbers', () => {
    const budget = new ConnectionBudget({ max: 10, name: 'primary' });
    budget.join('api', { min: 8, max: 10 }, noHooks);
    expect(() => budget.join('reports', { min: 4, max: 4 }, noHooks)).toThrow(
      new RangeError(
        `ConnectionBudget "primary", member "reports": the members' minimums would sum to 12, above the budget's max of 10`,
      ),
    );
    expect(budget.stats().members.map((m) => m.name)).toEqual(['api']);
  });

  it('rejects a duplicate name, and takes the name again once its member left', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const first = budget.join('api', { min: 0, max: 2 }, noHooks);
    expect(() => budget.join('api', { min: 0, max: 2 }, noHooks)).toThrow(
      new BudgetError(
        'ConnectionBudget "budget", member "api": a member of that name has already joined',
      ),
    );
    first.leave();
    expect(budget.join('api', { min: 1, max: 3 }, noHooks).name).toBe('api');
  });

  it('rejects bad limits', () => {
    const budget = new ConnectionBudget({ max: 4 });
    expect(() => budget.join('a', { min: 3, max: 2 }, noHooks)).toThrow(/min \(3\) is above max/);
    expect(() => budget.join('a', { min: 0, max: 0 }, noHooks)).toThrow(RangeError);
    expect(() => budget.join('a', { min: 0.5, max: 2 }, noHooks)).toThrow(TypeError);
    expect(() => budget.join('', { min: 0, max: 2 }, noHooks)).toThrow(/non-empty string/);
    expect(() => budget.join('a', { min: 0, max: 2 }, {} as BudgetHooks)).toThrow(
      /offer\(\) and shedIdle\(\)/,
    );
    expect(budget.stats().members).toEqual([]);
  });

  it('reports its members in stats', () => {
    const budget = new ConnectionBudget({ max: 5, name: 'b' });
    const api = new BudgetPool(budget, 'api', 1, 4);
    api.acquireMany(2);
    expect(budget.stats()).toEqual({
      name: 'b',
      max: 5,
      used: 2,
      members: [{ name: 'api', min: 1, max: 4, used: 2, wanting: 0, shedding: 0 }],
    });
  });
});

describe('ConnectionBudget: taking slots', () => {
  it("lets a member take only while the others' unmet minimums still fit", () => {
    const budget = new ConnectionBudget({ max: 10 });
    const a = budget.join('a', { min: 0, max: 10 }, noHooks);
    const b = budget.join('b', { min: 3, max: 10 }, noHooks);
    for (let i = 0; i < 7; i++) expect(a.tryTake()).toBe(true);
    expect(a.tryTake()).toBe(false); // 7 + 1 + b's 3 unmet > 10
    expect(b.tryTake()).toBe(true);
    expect(a.tryTake()).toBe(false); // 7 + 1 + b's 2 unmet > 10
    expect(b.tryTake() && b.tryTake()).toBe(true);
    expect([a.tryTake(), b.tryTake()]).toEqual([false, false]);
    expect(usedBy(budget)).toEqual({ a: 7, b: 3 });
  });

  it('caps a member at its own max even when the budget has room', () => {
    const budget = new ConnectionBudget({ max: 10 });
    const a = budget.join('a', { min: 0, max: 2 }, noHooks);
    expect([a.tryTake(), a.tryTake(), a.tryTake()]).toEqual([true, true, false]);
    expect(a.used).toBe(2);
  });

  it('always lets a member below its minimum take, however busy the others are', () => {
    const budget = new ConnectionBudget({ max: 6 });
    const a = budget.join('a', { min: 0, max: 6 }, noHooks);
    const b = budget.join('b', { min: 2, max: 6 }, noHooks);
    while (a.tryTake());
    expect(a.used).toBe(4);
    expect([b.tryTake(), b.tryTake()]).toEqual([true, true]);
  });

  it('keeps the counts when release() comes with no slot taken', () => {
    const budget = new ConnectionBudget({ max: 3, name: 'x' });
    const a = budget.join('a', { min: 0, max: 3 }, noHooks);
    a.tryTake();
    a.release();
    const error = (() => {
      try {
        a.release();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BudgetError);
    expect(error).toMatchObject({
      code: 'ERR_BUDGET_INVALID_CALL',
      message: 'ConnectionBudget "x": member "a" called release() with no slot taken',
    });
    expect(budget.stats().used).toBe(0);
  });

  it('rejects setWanting with a negative or fractional count', () => {
    const a = new ConnectionBudget({ max: 3 }).join('a', { min: 0, max: 3 }, noHooks);
    expect(() => a.setWanting(-1)).toThrow(RangeError);
    expect(() => a.setWanting(1.5)).toThrow(TypeError);
  });
});

describe('ConnectionBudget: offering a freed slot', () => {
  it('offers to a waiting member below its minimum first', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    a.acquireMany(4);
    const b = new BudgetPool(budget, 'b', 2, 4); // joins while the budget is full
    const c = new BudgetPool(budget, 'c', 0, 4);
    c.acquire(); // c waits first, with the same ratio as b
    b.acquire();
    a.done(); // a yields its connection to b: its minimum comes first
    expect(usedBy(budget)).toEqual({ a: 3, b: 1, c: 0 });
  });

  it('serves a member below its minimum before one with a lower ratio', () => {
    const budget = new ConnectionBudget({ max: 6 });
    const a = new BudgetPool(budget, 'a', 0, 6);
    a.acquireMany(6);
    const b = new BudgetPool(budget, 'b', 2, 6);
    const c = new BudgetPool(budget, 'c', 0, 6);
    c.acquireMany(3);
    b.acquireMany(3);
    a.done(); // yielded to b, below its minimum: b 1/6, c 0/6
    const order: string[] = [];
    b.onTake = () => order.push('b');
    c.onTake = () => order.push('c');
    a.member.leave(); // 5 slots free in one pass
    expect(order).toEqual(['b', 'c', 'c', 'b', 'c']);
  });

  it('then to the lowest used/max ratio, then to the one waiting longest', () => {
    const budget = new ConnectionBudget({ max: 6 });
    const holder = new BudgetPool(budget, 'holder', 0, 6);
    holder.acquireMany(6);
    const x = new BudgetPool(budget, 'x', 0, 6);
    const y = new BudgetPool(budget, 'y', 0, 6);
    const z = new BudgetPool(budget, 'z', 0, 2);
    y.acquireMany(3); // y waits before x
    x.acquireMany(3);
    z.acquireMany(3);
    const order: string[] = [];
    for (let i = 0; i < 5; i++) {
      const before = usedBy(budget);
      holder.done();
      holder.closeIdle();
      const after = usedBy(budget);
      order.push(['x', 'y', 'z'].find((n) => after[n] !== before[n]) ?? '-');
    }
    // All at ratio 0: y waited longest, then x, then z. Then x and y tie at 1/6 and y, served
    // longer ago, goes first.
    expect(order).toEqual(['y', 'x', 'z', 'y', 'x']);
  });

  it('does not let one member with a thousand waiters starve one with a single waiter', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const big = new BudgetPool(budget, 'big', 0, 4);
    const small = new BudgetPool(budget, 'small', 0, 4);
    big.acquireMany(1000);
    small.acquire();
    expect(small.inUse).toBe(0);
    big.done(); // big's connection comes back: it yields it instead of reusing it
    expect([big.inUse, small.inUse, small.waiters]).toEqual([3, 1, 0]);
    big.done(); // nobody else waits: big reuses it
    expect([big.inUse, big.waiters, usedBy(budget)]).toEqual([3, 995, { big: 3, small: 1 }]);
  });

  it('shares freed slots round-robin between two busy members with equal limits', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    const b = new BudgetPool(budget, 'b', 0, 4);
    a.acquireMany(100);
    b.acquireMany(100);
    for (let i = 0; i < 20; i++) (i % 2 === 0 ? a : b).done();
    expect(usedBy(budget)).toEqual({ a: 2, b: 2 });
  });

  it('takes a declined slot back and offers it to the next member', () => {
    const budget = new ConnectionBudget({ max: 2 });
    const a = new BudgetPool(budget, 'a', 0, 2);
    a.acquireMany(2);
    const liar = new BudgetPool(budget, 'liar', 0, 2);
    const b = new BudgetPool(budget, 'b', 0, 2);
    liar.member.setWanting(5); // reports waiters it does not have: declines the offer
    b.acquire();
    a.done();
    a.closeIdle();
    expect([liar.offers, usedBy(budget), budget.stats().members[1]?.wanting]).toEqual([
      1,
      { a: 1, liar: 0, b: 1 },
      0,
    ]);
  });
});

describe('ConnectionBudget: shedding idle connections', () => {
  it('asks a member over its share for just the idle connections another one needs', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    a.openIdle(4);
    const b = new BudgetPool(budget, 'b', 0, 4);
    b.acquire();
    expect(a.shedAsks).toEqual([1]);
    b.acquire();
    expect([a.shedAsks, usedBy(budget)]).toEqual([[1, 1], { a: 2, b: 2 }]);
    b.acquire(); // a is at its share (2 of 4) now
    expect([a.shedAsks, b.waiters, a.idle]).toEqual([[1, 1], 1, 2]);
  });

  it('never touches a connection in use: the rest come back as they are returned', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    a.acquireMany(4);
    a.done(); // 3 in use, 1 idle
    const b = new BudgetPool(budget, 'b', 0, 4);
    b.acquireMany(2);
    expect([a.shedAsks, a.inUse, a.idle, b.inUse, b.waiters]).toEqual([[1, 1], 3, 0, 1, 1]);
    a.done(); // yielded, not reused: b's second caller gets the slot
    expect([a.inUse, b.inUse, b.waiters]).toEqual([2, 2, 0]);
  });

  it('does not ask a member at its proportional share, even with idle connections', () => {
    const budget = new ConnectionBudget({ max: 10 }); // shares: max 10 x member max / 25
    const v = new BudgetPool(budget, 'v', 0, 10); // share 4
    const u = new BudgetPool(budget, 'u', 0, 10); // share 4
    const w = new BudgetPool(budget, 'w', 0, 5); // share 2
    v.openIdle(4);
    u.acquireMany(6);
    w.acquire(); // v would keep 3/10 against w's 1/5, but v is not above its share
    expect([v.shedAsks, u.shedAsks.length > 0, w.waiters]).toEqual([[], true, 1]);
  });

  it('does not move a slot that would leave the giver less served than the taker', () => {
    const budget = new ConnectionBudget({ max: 10 });
    const v = new BudgetPool(budget, 'v', 0, 10);
    const w = new BudgetPool(budget, 'w', 0, 10);
    new BudgetPool(budget, 'u', 0, 1); // shares: v and w 4.76 each
    v.openIdle(5);
    w.acquireMany(6); // v is above its share, but 4/10 left for v against 6/10 for w
    expect([v.shedAsks, w.waiters]).toEqual([[], 1]);
  });

  it("never sheds below the giver's minimum", () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 3, 4);
    a.openIdle(4);
    const b = new BudgetPool(budget, 'b', 0, 4);
    b.acquireMany(3);
    expect([a.shedAsks, usedBy(budget), b.waiters]).toEqual([[1], { a: 3, b: 1 }, 2]);
  });

  it('counts connections still closing, so it does not ask twice for the same need', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    a.syncClose = false;
    a.openIdle(4);
    const b = new BudgetPool(budget, 'b', 0, 4);
    b.acquire();
    b.member.setWanting(1); // reported again: the close asked for is still under way
    expect([a.shedAsks, a.closing, budget.stats().members[0]?.shedding]).toEqual([[1], 1, 1]);
    a.finishClose();
    expect([b.inUse, usedBy(budget), budget.stats().members[0]?.shedding]).toEqual([
      1,
      { a: 3, b: 1 },
      0,
    ]);
  });

  it('frees slots for the minimum of a member that joined a full budget', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    a.openIdle(4);
    const b = new BudgetPool(budget, 'b', 2, 2);
    b.acquireMany(2);
    expect([a.shedAsks, usedBy(budget)]).toEqual([[1, 1], { a: 2, b: 2 }]);
  });
});

describe('ConnectionBudget: leaving', () => {
  it('returns the slots of a member that left and stops reserving its minimum', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 0, 4);
    const b = new BudgetPool(budget, 'b', 2, 4);
    a.acquireMany(4);
    expect(a.inUse).toBe(2);
    b.member.leave();
    expect([a.inUse, a.waiters]).toEqual([4, 0]);
    expect(budget.stats().members.map((m) => m.name)).toEqual(['a']);
  });

  it('ignores a late release and wanting after leave, rejects a take, leaves once', () => {
    const budget = new ConnectionBudget({ max: 4 });
    const a = new BudgetPool(budget, 'a', 1, 4);
    a.acquireMany(3);
    a.member.leave();
    a.member.leave();
    a.member.release();
    a.member.setWanting(2);
    expect(a.member.shouldYield()).toBe(false);
    expect(() => a.member.tryTake()).toThrow(BudgetError);
    expect([a.member.used, budget.stats()]).toEqual([
      0,
      { name: 'budget', max: 4, used: 0, members: [] },
    ]);
  });

  it('gives the slots of a member that left to the members waiting, fairly', () => {
    const budget = new ConnectionBudget({ max: 6 });
    const a = new BudgetPool(budget, 'a', 0, 6);
    a.acquireMany(6);
    const b = new BudgetPool(budget, 'b', 0, 6);
    const c = new BudgetPool(budget, 'c', 0, 6);
    b.acquireMany(10);
    c.acquireMany(10);
    a.member.leave();
    expect(usedBy(budget)).toEqual({ b: 3, c: 3 });
  });
});

describe('ConnectionBudget: hooks that call back into the budget', () => {
  it('keeps its counts when an offer() releases at once (a create that failed synchronously)', () => {
    const budget = new ConnectionBudget({ max: 2 });
    const a = budget.join('a', { min: 0, max: 2 }, noHooks);
    a.tryTake();
    a.tryTake();
    let offers = 0;
    const b = budget.join(
      'b',
      { min: 0, max: 2 },
      {
        offer: () => {
          offers++;
          b.release();
          return true;
        },
        shedIdle: () => 0,
      },
    );
    b.setWanting(1000); // it keeps wanting: the valve bounds the offers of one pass
    a.release();
    expect(offers).toBeLessThanOrEqual(budget.max + 2);
    expect([b.used, budget.stats().used]).toEqual([0, 1]);
  });

  it('restores its counts when a hook throws, and works on afterwards', () => {
    const budget = new ConnectionBudget({ max: 1 });
    const a = budget.join('a', { min: 0, max: 1 }, noHooks);
    a.tryTake();
    const boom = new Error('boom');
    const b = budget.join(
      'b',
      { min: 0, max: 1 },
      {
        offer: () => {
          throw boom;
        },
        shedIdle: () => 0,
      },
    );
    b.setWanting(1);
    expect(() => a.release()).toThrow(boom);
    expect(usedBy(budget)).toEqual({ a: 0, b: 0 });
    expect(a.tryTake()).toBe(true);
  });

  it('lets a member leave from inside its own offer()', () => {
    const budget = new ConnectionBudget({ max: 1 });
    const a = budget.join('a', { min: 0, max: 1 }, noHooks);
    a.tryTake();
    const b = budget.join(
      'b',
      { min: 0, max: 1 },
      {
        offer: () => {
          b.leave();
          return true;
        },
        shedIdle: () => 0,
      },
    );
    b.setWanting(1);
    a.release();
    expect(budget.stats()).toMatchObject({ used: 0, members: [{ name: 'a', used: 0 }] });
  });
});
