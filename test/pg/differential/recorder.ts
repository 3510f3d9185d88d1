/**
 * The small API a scenario writes its observation log with. Everything recorded goes through
 * `plain()`, so the log holds labels and shapes, never live clients or errors.
 */
import type pg from 'pg';

import { ClientLabels } from './labels.js';
import type { Observation } from './observation.js';
import { plain } from './plain.js';
import { kTimedOut, onNextEvent, withinLimit } from './waits.js';

/** The events of pg.Pool's documented API. */
export const poolEvents = ['connect', 'acquire', 'release', 'remove', 'error'] as const;
export type PoolEvent = (typeof poolEvents)[number];

export interface Counts {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

/** A callback to hand to the API under test, and a way to wait until it has been called. */
export interface RecordedCallback<A extends unknown[]> {
  readonly fn: (...args: A) => void;
  /** Resolves once `fn` has been called (or `kTimedOut`, which is then in the log). */
  readonly called: Promise<A | typeof kTimedOut>;
}

export class Recorder {
  readonly #log: Observation[] = [];
  readonly #labels = new ClientLabels();

  get log(): readonly Observation[] {
    return this.#log;
  }

  /** A named value the scenario observed. */
  step(name: string, value?: unknown): void {
    const observed = plain(value, this.#labels);
    this.#log.push(observed === undefined ? { step: name } : { step: name, value: observed });
  }

  /** Records the pool's events, as they are emitted, from now on. */
  listen(pool: pg.Pool, events: readonly PoolEvent[] = poolEvents): void {
    for (const name of events) {
      pool.on(name, (...args: unknown[]) => {
        this.#log.push({ event: name, args: args.map((arg) => plain(arg, this.#labels)) });
      });
    }
  }

  /**
   * Counts the pool's events from now on, for concurrent work, where their order and which
   * client comes first are not fixed. `record` logs the tally so far.
   */
  tally(pool: pg.Pool, events: readonly PoolEvent[] = poolEvents): { record(name: string): void } {
    const tally: Record<string, number> = Object.fromEntries(events.map((name) => [name, 0]));
    for (const name of events) pool.on(name, () => tally[name]!++);
    return { record: (name) => this.step(name, { ...tally }) };
  }

  /** `totalCount`, `idleCount` and `waitingCount` at this point. */
  counts(name: string, pool: pg.Pool): void {
    this.step(name, countsOf(pool));
  }

  /** How a promise settles: `{ resolved }` or `{ rejected }`. Returns the value, if any. */
  async outcome<T>(name: string, promise: Promise<T>): Promise<T | undefined> {
    const settled = await outcomeOf(promise);
    this.step(name, settled);
    return 'resolved' in settled ? settled.resolved : undefined;
  }

  /** How a synchronous call ends: `{ returned }` or `{ threw }`. Returns the value, if any. */
  attempt<T>(name: string, call: () => T): T | undefined {
    try {
      const value = call();
      this.step(name, { returned: value });
      return value;
    } catch (error) {
      this.step(name, { threw: error });
      return undefined;
    }
  }

  /**
   * A callback that records its arguments under their names when called (`argNames[i]` for
   * argument i), so the log reads `{ err, client, done }` rather than positions.
   */
  callback<A extends unknown[]>(name: string, argNames: readonly string[]): RecordedCallback<A> {
    let resolve!: (args: A) => void;
    const called = new Promise<A>((r) => (resolve = r));
    const fn = (...args: A): void => {
      this.step(name, Object.fromEntries(argNames.map((arg, i) => [arg, args[i]])));
      resolve(args);
    };
    return { fn, called: this.#limited(name, called) };
  }

  /**
   * Waits for the next `event` that `where` accepts and records the counts at the moment it
   * fired (pg.Pool updates them before it emits 'remove').
   */
  async countsAtEvent(
    name: string,
    pool: pg.Pool,
    event: PoolEvent,
    where?: (...args: unknown[]) => boolean,
    limitMillis?: number,
  ): Promise<void> {
    const counts = await onNextEvent(pool, event, () => countsOf(pool), where, limitMillis);
    this.step(name, counts === kTimedOut ? `no '${event}' event in time` : counts);
  }

  /** Waits for `promise` with the generous limit; a timeout is recorded, not thrown. */
  async settled<T>(name: string, promise: Promise<T>): Promise<T | typeof kTimedOut> {
    return this.#limited(name, promise);
  }

  async #limited<T>(name: string, promise: Promise<T>): Promise<T | typeof kTimedOut> {
    const result = await withinLimit(promise);
    if (result === kTimedOut) this.step(name, 'not in time');
    return result;
  }
}

export type Outcome<T> = { resolved: T } | { rejected: unknown };

/** A promise of how `promise` settles, which never rejects. */
export function outcomeOf<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (resolved) => ({ resolved }),
    (rejected: unknown) => ({ rejected }),
  );
}

export function countsOf(pool: pg.Pool): Counts {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
}
