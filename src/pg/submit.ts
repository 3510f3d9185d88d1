/**
 * `pool.query(submittable)`: a `pg.Query` or a stream (pg-query-stream) run on a pooled
 * connection, which is released when the submittable finishes. Returned as is, as
 * @types/pg declares. Not part of the dispatcher: a stream holds its connection for as long
 * as it is read, so it can never share one.
 */
import type pg from 'pg';

import type { Checkout } from './checkout.js';
import { PgInvalidArgumentError } from './errors.js';

/** What we need of a submittable beyond `submit`: events, and pg.Query's callback/handleError. */
interface Trackable {
  once?(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  emit?(event: string, ...args: unknown[]): boolean;
  callback?: ((error: unknown, result?: unknown) => void) | undefined;
  handleError?(error: unknown, connection?: unknown): void;
}

export function isSubmittable(value: unknown): value is pg.Submittable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<pg.Submittable>).submit === 'function'
  );
}

export function submit<T extends pg.Submittable>(checkout: Checkout, submittable: T): T {
  const target = submittable as unknown as Trackable;
  if (typeof target.once !== 'function' || typeof target.off !== 'function') {
    throw new PgInvalidArgumentError(
      'query',
      'pool.query() accepts submittables that are event emitters (pg.Query, pg-query-stream); use pool.connect() for others such as pg-cursor',
    );
  }
  checkout.acquire().then(
    (connection) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        for (const event of ['end', 'error', 'close']) target.off!(event, finish);
        // A stream closed early leaves its portal running: that connection cannot be reused.
        const healthy = connection.alive && !connection.running;
        checkout.release(
          connection,
          healthy ? undefined : new Error('The submittable did not finish'),
        );
      };
      for (const event of ['end', 'error', 'close']) target.once!(event, finish);
      // pg.Query with a callback reports errors only through it, with no event.
      const callback = target.callback;
      if (typeof callback === 'function') {
        target.callback = (error, result) => {
          finish();
          callback(error, result);
        };
      }
      connection.client.query(submittable);
    },
    (error: unknown) => {
      if (typeof target.handleError === 'function') target.handleError(error);
      else target.emit?.('error', error);
    },
  );
  return submittable;
}
