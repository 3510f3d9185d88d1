/**
 * pg.Pool-shaped stand-ins for a tenant's pool. `DeferredTarget` takes calls for a pool still
 * being opened and hands each to it once it is (or fails each with the opening's error), in
 * every calling style pg.Pool has: promise, callback, submittable. `TenantHandle` is what
 * `router.tenant(key)` returns: it holds no pool, only the key, and finds the pool on each call,
 * so a handle kept for a long time stays valid across the pool being closed and reopened.
 */
import type pg from 'pg';

import type { Pool, TransactionClient, TransactionOptions } from '../pg/index.js';
import type { RouteTarget } from './router.js';

type Callback = (error: Error | undefined, ...rest: unknown[]) => void;

/** pg.Query's error path when it has no pool to run on (as lifeguard/pg's submit does it). */
interface Failable {
  handleError?(error: unknown): void;
  emit?(event: string, ...args: unknown[]): boolean;
}

function isSubmittable(value: unknown): value is pg.Submittable {
  return typeof (value as Partial<pg.Submittable> | null | undefined)?.submit === 'function';
}

function lastCallback(args: readonly unknown[]): Callback | undefined {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as Callback) : undefined;
}

/**
 * Calls for a pool that is not open yet. `pool` resolves once the pool may take them (opened
 * and admitted); `started` runs as each call reaches it, or fails, so the router knows when
 * nothing is on its way to the pool any more.
 */
export class DeferredTarget implements RouteTarget {
  constructor(
    private readonly pool: Promise<Pool>,
    private readonly started: () => void,
  ) {}

  readonly query = ((...args: unknown[]): unknown => {
    const first = args[0];
    const result = this.#use((pool) => (pool.query as (...a: unknown[]) => unknown)(...args));
    if (isSubmittable(first)) {
      result.catch((error: unknown) => {
        const target = first as unknown as Failable;
        if (typeof target.handleError === 'function') target.handleError(error);
        else target.emit?.('error', error);
      });
      return first;
    }
    return settle(result, lastCallback(args));
  }) as Pool['query'];

  readonly connect = ((callback?: Callback): unknown =>
    settle(
      this.#use((pool) => connectTo(pool, callback)),
      callback,
    )) as Pool['connect'];

  transaction<R>(
    fn: (client: TransactionClient) => Promise<R> | R,
    options?: TransactionOptions,
  ): Promise<R> {
    return this.#use((pool) => pool.transaction(fn, options));
  }

  /** Runs `use` once the pool may take the call; either way the call is no longer on its way. */
  #use<T>(use: (pool: Pool) => T): Promise<Awaited<T>> {
    return this.pool.then(
      (pool) => {
        this.started();
        return use(pool) as Awaited<T>;
      },
      (error: unknown) => {
        this.started();
        throw error;
      },
    );
  }
}

/** A call's outcome as pg.Pool gives it: the promise, or (with a callback) the error to it. */
function settle(result: Promise<unknown>, callback: Callback | undefined): unknown {
  if (callback === undefined) return result;
  result.catch((error: Error) => process.nextTick(() => callback(error)));
  return undefined;
}

function connectTo(target: RouteTarget, callback: Callback | undefined): unknown {
  if (callback === undefined) return target.connect();
  target.connect(callback as Parameters<Pool['connect']>[0] & object);
  return undefined;
}

/** Finds the target for a key now, or throws the routing error that stands for none. */
export type TargetFinder = (key: string) => RouteTarget;

/**
 * `router.tenant(key)`: the tenant's pool as a pg.Pool-shaped object (`query`, `connect`,
 * `transaction`). Synchronous and cheap to make: the pool is found (opened if need be) on each
 * call, and a routing error (budget exhausted with `overflow: 'fail'`) is that call's failure.
 */
export class TenantHandle implements RouteTarget {
  constructor(
    readonly key: string,
    private readonly find: TargetFinder,
  ) {}

  readonly query = ((...args: unknown[]): unknown => {
    let target: RouteTarget;
    try {
      target = this.find(this.key);
    } catch (error) {
      return refuse(error as Error, args);
    }
    return (target.query as (...a: unknown[]) => unknown)(...args);
  }) as Pool['query'];

  readonly connect = ((callback?: Callback): unknown => {
    let target: RouteTarget;
    try {
      target = this.find(this.key);
    } catch (error) {
      return refuse(error as Error, callback === undefined ? [] : [callback]);
    }
    return connectTo(target, callback);
  }) as Pool['connect'];

  transaction<R>(
    fn: (client: TransactionClient) => Promise<R> | R,
    options?: TransactionOptions,
  ): Promise<R> {
    try {
      return this.find(this.key).transaction(fn, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** A call that has no target: its callback (or its promise) gets the error, as pg would. */
function refuse(error: Error, args: readonly unknown[]): unknown {
  const first = args[0];
  if (isSubmittable(first)) {
    process.nextTick(() => (first as unknown as Failable).handleError?.(error));
    return first;
  }
  const callback = lastCallback(args);
  if (callback === undefined) return Promise.reject(error);
  process.nextTick(() => callback(error));
  return undefined;
}
