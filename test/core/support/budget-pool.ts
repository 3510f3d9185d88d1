/**
 * A pool reduced to what a ConnectionBudget sees: connections in use, idle or closing, and
 * callers waiting. It follows the protocol a real pool would: serve from idle, else tryTake,
 * else wait and report setWanting; on a returned lease ask shouldYield before reusing it.
 * Connections are created at once; closes finish at once (`syncClose`) or on finishClose().
 */
import type { BudgetHooks, BudgetMember, ConnectionBudget } from '../../../src/core/index.js';

export class BudgetPool {
  inUse = 0;
  idle = 0;
  closing = 0;
  waiters = 0;
  syncClose = true;
  /** Each n the budget passed to shedIdle, in order. */
  readonly shedAsks: number[] = [];
  offers = 0;
  /** Connections this pool closed (shed, yielded or timed out idle). */
  closes = 0;
  readonly member: BudgetMember;
  /** Runs inside every hook call, before the hook acts (for invariants checked mid-call). */
  onHook: () => void = () => {};
  /** Runs right after each slot this pool took (tryTake or a kept offer), still inside it. */
  onTake: () => void = () => {};

  constructor(budget: ConnectionBudget, name: string, min: number, max: number) {
    this.member = budget.join(name, { min, max }, this.hooks());
  }

  get name(): string {
    return this.member.name;
  }

  private hooks(): BudgetHooks {
    return {
      offer: () => {
        this.onHook();
        this.offers++;
        if (this.waiters === 0) return false;
        this.onTake();
        this.waiters--;
        this.inUse++;
        this.member.setWanting(this.waiters);
        return true;
      },
      shedIdle: (n) => {
        this.onHook();
        this.shedAsks.push(n);
        const started = Math.min(n, this.idle);
        this.idle -= started;
        for (let i = 0; i < started; i++) this.close();
        return started;
      },
    };
  }

  /** A caller asks for a connection. */
  acquire(): void {
    if (this.idle > 0) {
      this.idle--;
      this.inUse++;
    } else if (this.member.tryTake()) {
      this.onTake();
      this.inUse++;
    } else {
      this.waiters++;
      this.member.setWanting(this.waiters);
    }
  }

  /** Acquires `n` times. */
  acquireMany(n: number): void {
    for (let i = 0; i < n; i++) this.acquire();
  }

  /** Opens `n` connections and gives them all back: they sit idle. */
  openIdle(n: number): void {
    this.acquireMany(n);
    for (let i = 0; i < n; i++) this.done();
  }

  /** A caller gives its connection back. */
  done(): void {
    if (this.inUse === 0) return;
    if (this.member.shouldYield()) {
      this.inUse--;
      this.close();
    } else if (this.waiters > 0) {
      this.waiters--;
      this.member.setWanting(this.waiters);
    } else {
      this.inUse--;
      this.idle++;
    }
  }

  /** An idle connection times out and closes. */
  closeIdle(): void {
    if (this.idle === 0) return;
    this.idle--;
    this.close();
  }

  /** One connection that was closing has closed. */
  finishClose(): void {
    if (this.closing === 0) return;
    this.closing--;
    this.member.release();
  }

  private close(): void {
    this.closes++;
    if (this.syncClose) {
      this.member.release();
    } else {
      this.closing++;
    }
  }
}
