/**
 * Read-your-writes scopes: `router.withConsistency(fn)` runs `fn` in an AsyncLocalStorage
 * scope that remembers the WAL position of the last write made in it, so that reads in the
 * same scope go only to replicas that have replayed that far. Outside a scope nothing is
 * recorded (recording costs a round trip to the primary after each write).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import { RoutingError } from './errors.js';
import { formatLsn, laterLsn, parseLsn } from './replicas-lsn.js';

interface Scope {
  token: bigint | undefined;
}

export class ConsistencyScopes {
  readonly #storage = new AsyncLocalStorage<Scope>();

  /** Runs `fn` in a new scope, starting from `after` (a token from elsewhere) when given. */
  run<R>(fn: () => R, after?: string): R {
    return this.#storage.run({ token: after === undefined ? undefined : tokenOf(after) }, fn);
  }

  /** Whether the caller is inside a scope (then writes record their position). */
  active(): boolean {
    return this.#storage.getStore() !== undefined;
  }

  /** The current scope's last write position, if any. */
  token(): bigint | undefined {
    return this.#storage.getStore()?.token;
  }

  /** The current scope's token as text, to pass by hand (`{ after }`, another service). */
  tokenText(): string | undefined {
    const token = this.token();
    return token === undefined ? undefined : formatLsn(token);
  }

  /** A write in the current scope reached `lsn`. */
  record(lsn: bigint): void {
    const scope = this.#storage.getStore();
    if (scope !== undefined) scope.token = laterLsn(scope.token, lsn);
  }
}

/** The position a read must see: the later of a hint's `after` and the scope's token. */
export function tokenOf(after: unknown, scoped?: bigint): bigint | undefined {
  if (after === undefined) return scoped;
  const lsn = parseLsn(after);
  if (lsn === undefined) {
    throw new RoutingError(
      'ERR_ROUTING_INVALID_TOKEN',
      `A read-your-writes token is a WAL position such as "0/16B3748", got ${JSON.stringify(after)}`,
    );
  }
  return laterLsn(lsn, scoped);
}

/** Whether a replica that has replayed up to `replayed` may serve a read that needs `token`. */
export function tokenSatisfied(replayed: bigint | undefined, token: bigint | undefined): boolean {
  return token === undefined || (replayed !== undefined && replayed >= token);
}
