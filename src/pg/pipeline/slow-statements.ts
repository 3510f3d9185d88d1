/**
 * Which statements are slow: the pipelined dispatcher's memory of the statements that held up
 * a lane, so that it stops writing them onto lanes (isolation.ts runs them apart) before fast
 * queries queue behind them again.
 *
 * What is measured is a query's *service time* on its lane: from when the server started on it
 * (sent, or the previous answer on the lane, whichever is later: lane.ts) to its answer, or to
 * now while it is still the head of a lane. So a fast query that waited behind a slow one is
 * never taken for slow itself; the one that made it wait is.
 *
 * One slow run is not enough. A single slow run is as likely to be the process itself, or the
 * server, stalling (a long GC pause, the CPU taken by something else: on this 2-core machine
 * under load, 10 ms stalls happen several times a second): the first answer after a stall has
 * waited as long as the stall. Marking a fast statement slow by mistake is costly (every run of
 * it leaves the lanes until its isolated runs bring it back), so a statement seen slow becomes
 * a *suspect*, and is marked once two runs of it were slow *one after the other* (the second
 * started after the first was seen slow) and slow runs are at least a fifth of its runs
 * answered since (`kMinSlowShare`). A stall makes every lane's head look slow at once, but those
 * runs all started before it, so they count once; after it, a hot statement's hundreds of fast
 * answers soon clear the suspicion (`kMaxFastPerSlow`). A slow statement's next slow run
 * confirms it. That costs one more slow run written onto a lane per new slow statement; a
 * statement slow less than a fifth of the time stays pipelined (the head-of-line check still
 * keeps lanes from filling up behind it).
 *
 * The key is the statement text: with parameters, one text is one statement whatever the
 * values. Only statements seen slow are kept, so the common case (nothing slow or suspect)
 * costs one `Map#size` read per query and a fast statement never allocates anything here.
 * Both maps are bounded: beyond `kCapacity` statements, the one entered longest ago is
 * forgotten (a `Map` iterates in insertion order, so that is its first key: O(1)).
 *
 * A statement leaves the map when its isolated runs are fast again: each one moves an
 * exponentially weighted average (EWMA) of its service time, and below half the threshold it
 * is pipelined again. So a statement that was slow once (a cold cache, a lock) is not exiled
 * for good; the gap between the two thresholds keeps one that hovers around the threshold from
 * flipping at every run. The average starts from the observed time, capped at
 * `kMaxStartFactor` times the threshold, so that after one very long run (a 10 s lock wait) a
 * handful of fast runs bring it back.
 */

/** The most statements remembered as slow. */
const kCapacity = 1_000;
/** Weight of the newest isolated run in the average: after 50 ms runs, 4 fast runs unmark it. */
const kAlpha = 0.5;
/** A statement's average starts at most this many times the threshold. */
const kMaxStartFactor = 8;
/** A suspect is marked slow when slow runs are at least this share of its runs. */
const kMinSlowShare = 0.5;
/** A suspect is cleared after this many fast answers per slow one, plus as many. */
const kMaxFastPerSlow = 2;
/**
 * Fast answers reported after which suspects are forgotten: one not confirmed by then is stale,
 * and while any is kept, every answer costs a lookup.
 */
const kSuspectHorizon = 10_000;
/** Slow runs, one after the other, that mark a statement slow. */
const kConfirmations = 3;

/** A statement seen slow, not (yet) marked. */
interface Suspect {
  /** When a slow run was last counted: only runs that started later count again. */
  countedAt: number;
  slow: number;
  fast: number;
}

export class SlowStatements {
  readonly #thresholdMillis: number;
  readonly #capacity: number;
  /** Statement text -> EWMA of its service time, in ms. Only slow statements are in it. */
  readonly #slow = new Map<string, number>();
  /** Statement text -> what was seen of it since it was first seen slow. */
  readonly #suspect = new Map<string, Suspect>();
  /** Fast answers reported since the first of the current suspects. */
  #fastSeen = 0;

  constructor(thresholdMillis: number, capacity: number = kCapacity) {
    this.#thresholdMillis = thresholdMillis;
    this.#capacity = capacity;
  }

  /** Statements currently marked slow. */
  get size(): number {
    return this.#slow.size;
  }

  isSlow(text: string): boolean {
    return this.#slow.size !== 0 && this.#slow.has(text);
  }

  /** Whether a fast answer must be reported (`observeFast`): something is suspect. */
  get suspicious(): boolean {
    return this.#suspect.size !== 0;
  }

  /**
   * A pipelined run of `text`, in service since `since`, still running or answered `now`, has
   * been in service longer than the threshold. Returns true when that made the statement slow.
   */
  observeSlow(text: string, since: number, now: number): boolean {
    const start = Math.min(now - since, this.#thresholdMillis * kMaxStartFactor);
    const slow = this.#slow;
    const current = slow.get(text);
    if (current !== undefined) {
      if (start > current) slow.set(text, start);
      return false;
    }
    const suspects = this.#suspect;
    const suspect = suspects.get(text);
    if (suspect === undefined) {
      if (suspects.size === 0) this.#fastSeen = 0;
      if (suspects.size >= this.#capacity) suspects.delete(suspects.keys().next().value!);
      suspects.set(text, { countedAt: now, slow: 1, fast: 0 });
      return false;
    }
    if (since < suspect.countedAt) return false; // ran (in part) at the same time
    suspect.countedAt = now;
    suspect.slow++;
    if (
      suspect.slow < kConfirmations ||
      suspect.slow < kMinSlowShare * (suspect.slow + suspect.fast)
    ) {
      return false;
    }
    suspects.delete(text);
    if (slow.size >= this.#capacity) slow.delete(slow.keys().next().value!);
    slow.set(text, start);
    return true;
  }

  /**
   * Marks `text` slow at once, from one run of `millis` (the first run of a new statement
   * that arrived in a burst: probation.ts). Its isolated runs unmark it if that was a fluke.
   */
  markSlow(text: string, millis: number): void {
    const slow = this.#slow;
    this.#suspect.delete(text);
    if (slow.has(text)) return;
    if (slow.size >= this.#capacity) slow.delete(slow.keys().next().value!);
    const start = Number.isNaN(millis) ? this.#thresholdMillis * kMaxStartFactor : millis;
    slow.set(text, Math.min(start, this.#thresholdMillis * kMaxStartFactor));
  }

  /** A pipelined run of `text` was answered within the threshold. */
  observeFast(text: string): void {
    const suspects = this.#suspect;
    if (++this.#fastSeen >= kSuspectHorizon) {
      suspects.clear();
      return;
    }
    const suspect = suspects.get(text);
    if (suspect === undefined) return;
    if (++suspect.fast > kMaxFastPerSlow * (suspect.slow + 1)) suspects.delete(text);
  }

  /**
   * An isolated run of `text` took `millis`. Returns true when that made it fast again (it is
   * no longer marked).
   */
  observeIsolated(text: string, millis: number): boolean {
    const slow = this.#slow;
    const current = slow.get(text);
    if (current === undefined) return false;
    const average = current + kAlpha * (millis - current);
    if (average < this.#thresholdMillis / 2) {
      slow.delete(text);
      return true;
    }
    slow.set(text, average);
    return false;
  }
}
