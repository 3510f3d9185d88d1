/**
 * The pool's events: pg.Pool's ('connect', 'acquire', 'release', 'remove') and lifeguard's own
 * ('leak', 'circuit'), each a view of one of the core pool's events. An event is wired to the
 * core's the first time someone listens to it, so events nobody listens to cost nothing.
 * ('error', for a broken idle client, is emitted by the pool itself: see `Pool`.)
 */
import type { EventEmitter } from 'node:events';

import type { Pool as CorePool } from '../core/index.js';
import type { PgConnection } from './connection.js';

/** Has `pool` emit its events from `core`'s, each wired when first listened to. */
export function bridgeEvents(pool: EventEmitter, core: CorePool<PgConnection>): void {
  const bridged = new Set<string | symbol>();
  pool.on('newListener', (event: string | symbol) => {
    if (!bridged.has(event) && bridge(pool, core, event)) bridged.add(event);
  });
}

/** Wires one event of `pool` to the core's; false for an event that has no core counterpart. */
function bridge(pool: EventEmitter, core: CorePool<PgConnection>, event: string | symbol): boolean {
  switch (event) {
    case 'connect':
      core.on('create', ({ resource }) => pool.emit('connect', resource.client));
      return true;
    case 'acquire':
      core.on('acquire', ({ resource }) => pool.emit('acquire', resource.client));
      return true;
    case 'release':
      core.on('release', ({ resource, error }) =>
        pool.emit('release', error ?? resource.releasedWith, resource.client),
      );
      return true;
    case 'remove':
      // When the client has ended, as pg.Pool does; the counts are updated before that.
      core.on('destroy', ({ resource }) =>
        resource.whenClosed(() => pool.emit('remove', resource.client)),
      );
      return true;
    // lifeguard's own: a client held longer than leakDetectionMillis (or reclaimed after
    // leakReclaimMillis), and the breaker's state.
    case 'leak':
      core.on('leak', ({ resource, heldMillis, stack, reclaimed }) =>
        pool.emit('leak', resource.client, { heldMillis, stack, reclaimed }),
      );
      return true;
    case 'circuit':
      core.on('circuit', (change) => pool.emit('circuit', change));
      return true;
    default:
      return false;
  }
}
