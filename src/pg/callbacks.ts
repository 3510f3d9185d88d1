/**
 * pg.Pool's other calling conventions, over the promises the pool works with: Node-style
 * callbacks for `connect()`, `query()` and `end()`, and promises of the class given as the
 * `Promise` option.
 */
import type pg from 'pg';

export type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;
export type QueryCallback<R> = (err: Error, result: R) => void;

const noop = (): void => {};

/** Hands a checkout to a `connect()` callback, with `done` releasing the client. */
export function callBackConnect(client: Promise<pg.PoolClient>, callback: ConnectCallback): void {
  client.then(
    (c) => deferCall(() => callback(undefined, c, (release) => c.release(release))),
    (error: Error) => deferCall(() => callback(error, undefined, noop)),
  );
}

/** A `connect()` refused before any checkout: as pg.Pool, the callback gets no `done`. */
export function refuseConnect(error: Error, callback: ConnectCallback): void {
  deferCall(() => callback(error, undefined, undefined as never));
}

/** Hands a query's outcome to a `query()` callback. */
export function callBackQuery(
  result: Promise<pg.QueryResult>,
  callback: QueryCallback<pg.QueryResult>,
): void {
  result.then(
    (r) => deferCall(() => callback(undefined as unknown as Error, r)),
    (error: Error) => deferCall(() => callback(error, undefined as unknown as pg.QueryResult)),
  );
}

/** `promise` as an instance of the `Promise` option's class, when one was given. */
export function promisedAs<T>(
  PromiseClass: PromiseConstructorLike | undefined,
  promise: Promise<T>,
): Promise<T> {
  if (PromiseClass === undefined) return promise;
  return new PromiseClass<T>((resolve, reject) => {
    promise.then(resolve, reject);
  }) as Promise<T>;
}

/**
 * Calls a user callback outside our promise chains, as pg.Pool does: if it throws, that is
 * an uncaught exception in their code, not an unhandled rejection attributed to us.
 */
export function deferCall(fn: () => void): void {
  process.nextTick(fn);
}
