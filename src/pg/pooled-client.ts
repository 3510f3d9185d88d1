/**
 * The client `pool.connect()` hands out: the real `pg.Client`, with `release` added as
 * pg-pool does (no Proxy, no wrapper), so `client.query`, `client.on('notification')`,
 * `client.escapeIdentifier`, `instanceof pg.Client` all keep working.
 */
import type pg from 'pg';

import { ReleaseError } from '../core/index.js';
import { asPgPoolError } from './callers.js';
import type { Checkout } from './checkout.js';
import type { PgConnection } from './connection.js';

/**
 * Gives the caller `connection.client` with a `release` for this checkout only. A new
 * function per checkout, so that a stale reference kept from an earlier checkout throws
 * instead of releasing whoever holds the client now.
 *
 * `release()` returns the client (rolled back first if it is inside a transaction);
 * `release(err)` or `release(true)` destroys it, as with pg.Pool.
 */
/** pg.Pool's words, kept word for word (code matches on them). */
const kReleasedTwice = 'Release called on client which has already been released to the pool.';

export function lend(connection: PgConnection, checkout: Checkout): pg.PoolClient {
  const client = connection.client as pg.PoolClient;
  let released = false;
  client.release = (destroy?: Error | boolean): void => {
    if (released) {
      throw asPgPoolError(kReleasedTwice, new ReleaseError(kReleasedTwice));
    }
    released = true;
    // pg-pool tests truthiness: `release(null)` and `release(false)` return the client.
    checkout.release(connection, destroy ? destroy : undefined);
  };
  return client;
}
