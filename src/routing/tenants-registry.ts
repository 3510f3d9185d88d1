/**
 * The bookkeeping of a tenant router's pools, apart from PostgreSQL so that it can be tested
 * with fakes: which tenant pools are open or opening, when each was last used, which are idle
 * (nothing in use, nobody waiting), which to close first (least recently used), and which
 * are still closing (their slots are on their way back to the budget).
 *
 * Per call it costs a map lookup and a timestamp; the scans over all tenants happen only in
 * the sweep (one timer for the whole router) and when the budget is full.
 */
import type { TenantCloseReason } from './tenants-types.js';

/** What the registry reads of a pool: pg.Pool's counters, and `end()`. */
export interface TenantPoolLike {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  end(): Promise<void>;
}

export interface TenantEntry<P extends TenantPoolLike> {
  readonly key: string;
  /** Set once the pool is open; undefined while it is being opened. */
  pool: P | undefined;
  /** While opening: resolves with the pool (or rejects, and the entry is gone). */
  opening: Promise<P> | undefined;
  /** Monotonic milliseconds of the last call routed here (or of the sweep that saw it busy). */
  lastUsed: number;
  /** Calls routed here that have not reached the pool yet (a waiter on `opening`). */
  pending: number;
}

export interface RegistryHooks<P extends TenantPoolLike> {
  /** A pool was closed for `reason` and its `end()` has settled. */
  closed(key: string, pool: P, reason: TenantCloseReason): void;
}

export class TenantRegistry<P extends TenantPoolLike> {
  readonly #entries = new Map<string, TenantEntry<P>>();
  /** Open pools by key: what the router reports as its members. */
  readonly #open = new Map<string, P>();
  /** Pools closing, by key: a new pool for that key waits for the old one to be gone. */
  readonly #closing = new Map<string, Promise<void>>();
  #closingSlots = 0;
  #created = 0;
  #evicted = 0;
  #closedIdle = 0;

  /**
   * @param waiting callers waiting on a pool; by default its `waitingCount`, which for
   *   lifeguard/pg leaves out a caller for whom a connection is being opened or awaited from
   *   the budget, so the router passes a stricter count.
   */
  constructor(
    private readonly now: () => number,
    private readonly hooks: RegistryHooks<P>,
    private readonly waiting: (pool: P) => number = (pool) => pool.waitingCount,
  ) {}

  get(key: string): TenantEntry<P> | undefined {
    return this.#entries.get(key);
  }

  /** A new entry for a pool about to be opened. */
  add(key: string, opening: Promise<P>): TenantEntry<P> {
    const entry: TenantEntry<P> = {
      key,
      pool: undefined,
      opening,
      lastUsed: this.now(),
      pending: 0,
    };
    this.#entries.set(key, entry);
    return entry;
  }

  /** The entry's pool is open. */
  opened(entry: TenantEntry<P>, pool: P): void {
    entry.pool = pool;
    entry.opening = undefined;
    this.#open.set(entry.key, pool);
    this.#created++;
  }

  /** Opening failed: nothing is kept, the next call tries again. */
  forget(entry: TenantEntry<P>): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
  }

  touch(entry: TenantEntry<P>): void {
    entry.lastUsed = this.now();
  }

  entries(): IterableIterator<TenantEntry<P>> {
    return this.#entries.values();
  }

  members(): ReadonlyMap<string, P> {
    return this.#open;
  }

  /** The end of the pool of `key` still closing, if any. */
  closing(key: string): Promise<void> | undefined {
    return this.#closing.get(key);
  }

  /** Slots held by pools that are closing: taken in the budget, but already coming back. */
  get closingSlots(): number {
    return this.#closingSlots;
  }

  counts(): { live: number; created: number; evicted: number; closedIdle: number } {
    return {
      live: this.#open.size,
      created: this.#created,
      evicted: this.#evicted,
      closedIdle: this.#closedIdle,
    };
  }

  /** Open, nothing checked out or being opened, nobody waiting, no call on its way. */
  isIdle(entry: TenantEntry<P>): boolean {
    const pool = entry.pool;
    return (
      pool !== undefined &&
      entry.pending === 0 &&
      this.waiting(pool) === 0 &&
      pool.totalCount === pool.idleCount
    );
  }

  /** Whether some tenant has callers that no connection of its own serves yet. */
  anyWaiting(max: number): boolean {
    for (const entry of this.#entries.values()) {
      const pool = entry.pool;
      if (pool !== undefined && pool.totalCount < max && this.waiting(pool) > 0) return true;
    }
    return false;
  }

  /**
   * Closes the least recently used idle pools (never `except`) until `slots` budget slots are
   * on their way back; with `slots` 0, the least recently used idle pool whatever it holds.
   * Returns the slots freed (or, for 0, the number of pools closed).
   */
  evict(except: TenantEntry<P> | undefined, slots: number): number {
    let freed = 0;
    while (slots === 0 ? freed === 0 : freed < slots) {
      const victim = this.#leastRecentlyUsedIdle(except, slots > 0);
      if (victim === undefined) break;
      const held = victim.pool!.totalCount;
      void this.close(victim, 'evicted');
      freed += slots === 0 ? 1 : held;
    }
    return freed;
  }

  /**
   * Closes the pools idle for `idleMillis` or more. A pool seen busy counts as used now, so
   * that one held for a long time is not closed the moment it is given back.
   */
  sweep(idleMillis: number): void {
    const now = this.now();
    for (const entry of this.#entries.values()) {
      // deleting while iterating a Map is safe
      if (entry.pool === undefined) continue;
      if (!this.isIdle(entry)) entry.lastUsed = now;
      else if (now - entry.lastUsed >= idleMillis) void this.close(entry, 'idle');
    }
  }

  /** Takes the pool out of the registry at once and ends it; `hooks.closed` once it has. */
  close(entry: TenantEntry<P>, reason: TenantCloseReason): Promise<void> {
    const pool = entry.pool;
    if (pool === undefined || this.#entries.get(entry.key) !== entry) return Promise.resolve();
    this.#entries.delete(entry.key);
    this.#open.delete(entry.key);
    if (reason === 'evicted') this.#evicted++;
    else if (reason === 'idle') this.#closedIdle++;
    const slots = pool.totalCount;
    this.#closingSlots += slots;
    const ended = pool
      .end()
      .catch(() => undefined) // an end that fails still leaves the pool closed
      .then(() => {
        this.#closingSlots -= slots;
        if (this.#closing.get(entry.key) === ended) this.#closing.delete(entry.key);
        this.hooks.closed(entry.key, pool, reason);
      });
    this.#closing.set(entry.key, ended);
    return ended;
  }

  /** Every pool still closing, for the router's end(). */
  allClosing(): Promise<void>[] {
    return [...this.#closing.values()];
  }

  #leastRecentlyUsedIdle(
    except: TenantEntry<P> | undefined,
    withSlots: boolean,
  ): TenantEntry<P> | undefined {
    let best: TenantEntry<P> | undefined;
    for (const entry of this.#entries.values()) {
      if (entry === except || !this.isIdle(entry)) continue;
      if (withSlots && entry.pool!.totalCount === 0) continue;
      if (best === undefined || entry.lastUsed < best.lastUsed) best = entry;
    }
    return best;
  }
}
