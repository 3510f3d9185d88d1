/**
 * A ConnectionBudget caps the sum of connections of several pools (its members), the way
 * pgcat, pgdog and Supavisor pools share one server's connection limit. Each member keeps
 * its own `min` and `max`; the budget decides who may open one more connection, who gets a
 * slot that frees up, and who should close idle connections so that another member is not
 * starved. It holds no connection and no timer: every decision is taken synchronously, in the
 * call that changed the counts, in O(members).
 *
 * @example
 * const budget = new ConnectionBudget({ max: 40, name: 'primary' });
 * const api = budget.join('api', { min: 28, max: 40 }, apiHooks);
 * if (api.tryTake()) openConnection(); // and api.release() once it closed or failed
 */
import { PoolError } from './errors.js';
import { servedBefore, sheddable, unmetMin, type MemberState } from './budget-share.js';
import type {
  BudgetHooks,
  BudgetLimits,
  BudgetMember,
  BudgetOptions,
  BudgetStats,
} from './budget-types.js';

export type {
  BudgetHooks,
  BudgetLimits,
  BudgetMember,
  BudgetMemberStats,
  BudgetOptions,
  BudgetStats,
} from './budget-types.js';

/** Misuse of a budget or of a member (a release with no slot taken, a take after leave). */
export class BudgetError extends PoolError<'ERR_BUDGET_INVALID_CALL'> {
  constructor(message: string) {
    super('ERR_BUDGET_INVALID_CALL', message);
  }
}

function checkCount(what: string, value: unknown, least: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${what} must be an integer, got ${String(value)}`);
  }
  if (value < least) throw new RangeError(`${what} must be >= ${least}, got ${value}`);
  return value;
}

/** A hook's answer to shedIdle(n) as a whole number of connections in [0, n]. */
function clampStarted(value: unknown, n: number): number {
  if (typeof value !== 'number' || !(value > 0)) return 0;
  return Math.min(n, Math.floor(value));
}

export class ConnectionBudget {
  readonly name: string;
  readonly max: number;
  private readonly _members: MemberState[] = [];
  /** Σ used over the members. */
  private _used = 0;
  /** Σ unmetMin over the members: the slots kept free for minimums not reached yet. */
  private _unmet = 0;
  private _sumMin = 0;
  private _sumMax = 0;
  /** Σ shedding over the members: slots on their way back. */
  private _shedding = 0;
  /** Members with wanting > 0, so that shouldYield() costs nothing when nobody waits. */
  private _wanters = 0;
  private _sequence = 0;
  private _pass = 0;
  private _pumping = false;
  private _again = false;

  constructor(options: BudgetOptions) {
    const max: unknown = options?.max;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
      throw new TypeError(`ConnectionBudget: max must be a positive integer, got ${String(max)}`);
    }
    this.max = max;
    this.name = options.name ?? 'budget';
  }

  /**
   * Adds a member. Throws a RangeError if the members' minimums would no longer fit in the
   * budget's max, and a BudgetError if a member of that name is already in.
   */
  join(name: string, limits: BudgetLimits, hooks: BudgetHooks): BudgetMember {
    const where = `ConnectionBudget "${this.name}", member "${name}"`;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`${where}: name must be a non-empty string`);
    }
    if (typeof hooks?.offer !== 'function' || typeof hooks.shedIdle !== 'function') {
      throw new TypeError(`${where}: hooks must have offer() and shedIdle()`);
    }
    const min = checkCount(`${where}: min`, limits?.min, 0);
    const max = checkCount(`${where}: max`, limits?.max, 1);
    if (min > max) throw new RangeError(`${where}: min (${min}) is above max (${max})`);
    if (this._members.some((m) => m.name === name)) {
      throw new BudgetError(`${where}: a member of that name has already joined`);
    }
    if (this._sumMin + min > this.max) {
      throw new RangeError(
        `${where}: the members' minimums would sum to ${this._sumMin + min}, above the budget's max of ${this.max}`,
      );
    }
    const m: MemberState = {
      name,
      min,
      max,
      hooks,
      used: 0,
      wanting: 0,
      shedding: 0,
      since: 0,
      declinedPass: 0,
      askedPass: 0,
      left: false,
    };
    this._members.push(m);
    this._sumMin += min;
    this._sumMax += max;
    this._unmet += min;
    return this._handle(m);
  }

  /** Slots taken over all members now (what `stats().used` reports), without a snapshot. */
  get used(): number {
    return this._used;
  }

  stats(): BudgetStats {
    return {
      name: this.name,
      max: this.max,
      used: this._used,
      members: this._members.map((m) => ({
        name: m.name,
        min: m.min,
        max: m.max,
        used: m.used,
        wanting: m.wanting,
        shedding: m.shedding,
      })),
    };
  }

  private _handle(m: MemberState): BudgetMember {
    return {
      name: m.name,
      get used() {
        return m.used;
      },
      tryTake: () => this._tryTake(m),
      release: () => this._release(m),
      setWanting: (n) => this._setWanting(m, n),
      shouldYield: () => this._shouldYield(m),
      leave: () => this._leave(m),
    };
  }

  /** The rule: below its own max, and the others' unmet minimums still fit after this one. */
  private _canTake(m: MemberState): boolean {
    return m.used < m.max && this._used + 1 + this._unmet - unmetMin(m) <= this.max;
  }

  private _setUsed(m: MemberState, used: number): void {
    const unmetBefore = unmetMin(m);
    this._used += used - m.used;
    m.used = used;
    this._unmet += unmetMin(m) - unmetBefore;
  }

  private _setWantingCount(m: MemberState, n: number): void {
    if (n > 0 && m.wanting === 0) {
      this._wanters++;
      m.since = ++this._sequence;
    } else if (n === 0 && m.wanting > 0) {
      this._wanters--;
    }
    m.wanting = n;
  }

  private _tryTake(m: MemberState): boolean {
    if (m.left) {
      throw new BudgetError(
        `ConnectionBudget "${this.name}": member "${m.name}" called tryTake() after leave()`,
      );
    }
    if (!this._canTake(m)) return false;
    this._setUsed(m, m.used + 1);
    return true;
  }

  private _release(m: MemberState): void {
    if (m.left) return; // leave() already returned every slot; its last closes report late
    if (m.used === 0) {
      throw new BudgetError(
        `ConnectionBudget "${this.name}": member "${m.name}" called release() with no slot taken`,
      );
    }
    this._setUsed(m, m.used - 1);
    if (m.shedding > 0) {
      m.shedding--;
      this._shedding--;
    }
    this._pump();
  }

  private _setWanting(m: MemberState, n: number): void {
    checkCount(`ConnectionBudget "${this.name}", member "${m.name}": setWanting(n)`, n, 0);
    if (m.left) return;
    this._setWantingCount(m, n);
    if (n > 0) this._pump();
  }

  private _leave(m: MemberState): void {
    if (m.left) return;
    m.left = true;
    this._setWantingCount(m, 0);
    this._used -= m.used;
    this._unmet -= unmetMin(m);
    this._shedding -= m.shedding;
    this._sumMin -= m.min;
    this._sumMax -= m.max;
    m.used = 0;
    m.shedding = 0;
    // Leaving is rare (a pool ends), so an O(members) removal is fine here.
    this._members.splice(this._members.indexOf(m), 1);
    this._pump();
  }

  private _shouldYield(m: MemberState): boolean {
    if (m.left || this._wanters === 0 || (this._wanters === 1 && m.wanting > 0)) return false;
    const taker = this._blockedWanter(m);
    if (taker === undefined) return false;
    const { need, base } = this._shortfall(taker);
    if (need <= 0 || this._sheddable(m, taker, base, 1) < 1) return false;
    m.shedding++;
    this._shedding++;
    return true;
  }

  /**
   * Every change of counts ends here: free slots are offered, then idle connections shed for
   * a member left waiting. A call made from inside a hook (offer may release, shedIdle may
   * release at once) only marks the pass to run again, so hooks never see a half-done pass.
   */
  private _pump(): void {
    if (this._wanters === 0) return; // nobody to offer to or to shed for
    if (this._pumping) {
      this._again = true;
      return;
    }
    this._pumping = true;
    const pass = ++this._pass;
    // A safety valve against a hook that takes and releases in a loop: each pass makes at
    // most this many offers; what is left over waits for the next release or setWanting.
    let offers = this.max + this._members.length;
    try {
      do {
        this._again = false;
        offers = this._offerFreeSlots(pass, offers);
        if (!this._again) this._shedForWanter(pass);
      } while (this._again && offers > 0);
    } finally {
      this._pumping = false;
      this._again = false;
    }
  }

  private _offerFreeSlots(pass: number, offers: number): number {
    while (offers > 0) {
      const m = this._nextTaker(pass);
      if (m === undefined) break;
      offers--;
      this._setUsed(m, m.used + 1);
      this._setWantingCount(m, m.wanting - 1);
      m.since = ++this._sequence; // served: behind the others that tie with it
      let kept = false;
      try {
        kept = m.hooks.offer() === true;
      } finally {
        if (!kept && !m.left) {
          if (m.used > 0) this._setUsed(m, m.used - 1);
          this._setWantingCount(m, 0);
          m.declinedPass = pass;
        }
      }
    }
    return offers;
  }

  /** The wanting member served first that may take a slot now. */
  private _nextTaker(pass: number): MemberState | undefined {
    let best: MemberState | undefined;
    for (const m of this._members) {
      if (m.wanting === 0 || m.declinedPass === pass || !this._canTake(m)) continue;
      if (best === undefined || servedBefore(m, best)) best = m;
    }
    return best;
  }

  /** The wanting member served first among those the budget (not their own max) holds back. */
  private _blockedWanter(except?: MemberState): MemberState | undefined {
    let best: MemberState | undefined;
    for (const m of this._members) {
      if (m === except || m.wanting === 0 || m.used >= m.max || this._canTake(m)) continue;
      if (best === undefined || servedBefore(m, best)) best = m;
    }
    return best;
  }

  /**
   * How many more connections must close for `taker` to be served (beyond those already
   * closing), and what it will hold once the closing ones are back: the base for `sheddable`.
   */
  private _shortfall(taker: MemberState): { need: number; base: number } {
    const demand = Math.min(taker.wanting, taker.max - taker.used);
    // What the taker could take now: zero or less, since it is blocked. Below zero, others'
    // minimums are not met yet and the first slots to come back are kept for them.
    const room = this.max - this._used - (this._unmet - unmetMin(taker));
    const coming = room + this._shedding;
    return { need: demand - coming, base: taker.used + Math.max(0, coming) };
  }

  /** Asks the members above their share, most served first, to close idle connections. */
  private _shedForWanter(pass: number): void {
    const taker = this._blockedWanter();
    if (taker === undefined) return;
    for (;;) {
      if (taker.left) return;
      const { need, base } = this._shortfall(taker);
      if (need <= 0) return;
      const giver = this._nextGiver(taker, base, pass);
      if (giver === undefined) return;
      this._askToShed(giver, this._sheddable(giver, taker, base, need), pass);
    }
  }

  /** The member with the highest used/max ratio that may give `taker` a slot. */
  private _nextGiver(taker: MemberState, base: number, pass: number): MemberState | undefined {
    let best: MemberState | undefined;
    for (const m of this._members) {
      if (m === taker || m.askedPass === pass || this._sheddable(m, taker, base, 1) < 1) continue;
      if (best === undefined || servedBefore(best, m)) best = m;
    }
    return best;
  }

  private _askToShed(giver: MemberState, n: number, pass: number): void {
    giver.askedPass = pass;
    // Counted as closing before the call, so that a release() made from inside shedIdle()
    // finds its slot marked; what the member did not start closing is taken back after.
    giver.shedding += n;
    this._shedding += n;
    let started = 0;
    try {
      started = clampStarted(giver.hooks.shedIdle(n), n);
    } finally {
      const unconfirmed = Math.min(n - started, giver.shedding);
      giver.shedding -= unconfirmed;
      this._shedding -= unconfirmed;
    }
  }

  private _sheddable(giver: MemberState, taker: MemberState, base: number, n: number): number {
    return sheddable(giver, taker, base, n, this.max, this._sumMax);
  }
}
