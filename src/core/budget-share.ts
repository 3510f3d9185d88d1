/**
 * The arithmetic of a ConnectionBudget's fairness, kept apart from its bookkeeping: one
 * member's state, who is served first, and how many slots one member may hand to another.
 * Ratios are compared by cross-multiplying integers, never as floats, so ties are exact.
 */
import type { BudgetHooks } from './budget-types.js';

/** One member's state, owned by its ConnectionBudget. */
export interface MemberState {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly hooks: BudgetHooks;
  /** Slots taken: connections open or being opened. */
  used: number;
  /** Callers waiting for a connection the member could not open (its own count). */
  wanting: number;
  /** Connections asked to close (shedIdle, shouldYield) whose release() has not come yet. */
  shedding: number;
  /** Wait order: set when wanting starts, renewed when served, so ties go round-robin. */
  since: number;
  /** The pump pass in which this member declined an offer (not offered again in that pass). */
  declinedPass: number;
  /** The pump pass in which this member was asked to shed (not asked again in that pass). */
  askedPass: number;
  left: boolean;
}

/** The part of the member's minimum it does not hold yet, which the budget keeps free for it. */
export function unmetMin(m: MemberState): number {
  return m.used < m.min ? m.min - m.used : 0;
}

/**
 * Whether `a` is served before `b`: members below their minimum first, then the lower
 * used/max ratio, then the one that has waited longer (or was served longer ago).
 */
export function servedBefore(a: MemberState, b: MemberState): boolean {
  const aBelow = a.used < a.min;
  if (aBelow !== b.used < b.min) return aBelow;
  const byRatio = a.used * b.max - b.used * a.max;
  if (byRatio !== 0) return byRatio < 0;
  return a.since < b.since;
}

/**
 * How many of `giver`'s connections (at most `limit`) may close so that `taker` can open as
 * many: never below the giver's minimum; up to the taker's minimum, nothing more is asked.
 * Beyond the taker's minimum a slot moves only from a giver above its proportional share
 * (budget max × its max / the sum of maxes), and only while the giver keeps a used/max ratio
 * at least the taker's after the move. That last rule is what prevents ping-pong: a move
 * narrows the gap between the two ratios, so the reverse move can never qualify at once.
 *
 * `takerBase` is what the taker will hold before these moves (its used plus slots already on
 * their way to it); `budgetMax` and `sumMax` give the proportional share.
 */
export function sheddable(
  giver: MemberState,
  taker: MemberState,
  takerBase: number,
  limit: number,
  budgetMax: number,
  sumMax: number,
): number {
  const giverBase = giver.used - giver.shedding;
  let moves = 0;
  while (moves < limit) {
    const keeps = giverBase - moves - 1;
    if (keeps < giver.min) break;
    const gets = takerBase + moves + 1;
    if (gets > taker.min) {
      const overShare = (keeps + 1) * sumMax > budgetMax * giver.max;
      if (!overShare || keeps * taker.max < gets * giver.max) break;
    }
    moves++;
  }
  return moves;
}
