/** The public shapes of a ConnectionBudget (src/core/budget.ts) and of its members. */

export interface BudgetOptions {
  /** The most connections all members together may hold: a positive integer. */
  readonly max: number;
  /** Shown in errors and stats. */
  readonly name?: string;
}

export interface BudgetLimits {
  /** Slots kept free for this member until it holds them: others may not take them. */
  readonly min: number;
  /** The most this member may hold, whatever the budget has free. */
  readonly max: number;
}

/** What the budget asks of a member. Both are called synchronously, from inside a budget call. */
export interface BudgetHooks {
  /**
   * A slot is free for you. The budget has already counted it as taken by you: return true to
   * keep it (open one connection with it, and call release() when that connection closes or
   * its create fails); return false to give it back. Do not call tryTake() for it. A false
   * counts as wanting 0 until your next setWanting(); either way, an offer consumes one of
   * the callers you reported as wanting, so report the true number again with setWanting().
   */
  offer(): boolean;
  /**
   * Close up to `n` idle connections (never one in use) and return how many you started
   * closing. Call release() for each when it has closed, now or later.
   */
  shedIdle(n: number): number;
}

export interface BudgetMember {
  readonly name: string;
  /** Slots this member holds: connections open, being opened, or closing. */
  readonly used: number;
  /** Call before opening a connection: true means a slot is now held for it. */
  tryTake(): boolean;
  /**
   * A connection closed or its create failed: the slot returns to the budget (and may be
   * offered to another member at once). Ignored after leave(), which returned every slot.
   */
  release(): void;
  /**
   * How many callers are waiting for a connection this member could not open (0 = none).
   * When `n` is above 0, the budget may call offer() or another member's shedIdle() at once.
   * Ignored after leave().
   */
  setWanting(n: number): void;
  /**
   * Call when one of your connections comes back from its user, before reusing it: true
   * means close it instead (then release()), because another member waits and this one holds
   * more than its fair share. This is how a member whose connections are all busy still gives
   * way; shedIdle() reaches only idle ones. False after leave().
   */
  shouldYield(): boolean;
  /** The member ended: its slots return, its minimum is no longer kept. Idempotent. */
  leave(): void;
}

export interface BudgetMemberStats {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly used: number;
  readonly wanting: number;
  /** Connections asked to close whose release() has not come yet. */
  readonly shedding: number;
}

export interface BudgetStats {
  readonly name: string;
  readonly max: number;
  readonly used: number;
  readonly members: readonly BudgetMemberStats[];
}
