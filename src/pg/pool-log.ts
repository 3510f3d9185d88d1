/**
 * pg.Pool's `log` option: pg.Pool calls `log(...messages)` with fixed texts at fixed points, and
 * code and tests match on those texts. lifeguard/pg says the same at the equivalent points it
 * has. Connecting (`connecting new client`, `new client connected`) is logged by the connection
 * factory (client-factory.ts), the idle client error by the Pool, `ending` by `end()`; the rest
 * comes from the core pool's events, listened to only when `log` is set.
 *
 * Errors reach `log` already masked (redact.ts); the config never does.
 */
import type { Pool as CorePool } from '../core/index.js';
import type { PgConnection } from './connection.js';

export type PoolLog = (...messages: unknown[]) => void;

/** pg.Pool's texts for the removals lifeguard has an equivalent of, by the core's reason. */
const removals: Partial<Record<string, string>> = {
  uses: 'remove expended client',
  idle: 'remove idle client',
  lifetime: 'remove expired client',
};

export function attachPoolLog(core: CorePool<PgConnection>, log: PoolLog | undefined): void {
  if (log === undefined) return;
  core.on('destroy', ({ reason }) => {
    const text = removals[reason];
    if (text !== undefined) log(text);
  });
  core.on('error', ({ error }) => {
    // A failed creation: connecting, the per-pool SET, `onConnect` or `verify`. pg.Pool logs
    // the connect error itself, which is the cause here.
    if (error.code === 'ERR_POOL_CREATE_FAILED') log('client failed to connect', error.cause);
  });
}
