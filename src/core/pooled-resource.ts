/**
 * The pool's bookkeeping for one resource. A resource's state is which of these it is in;
 * only `Pool#_move` changes it, and that keeps the idle stack and the counts of the other
 * states in step with it.
 *
 * - `new`: just created, not yet handed out or put idle.
 * - `idle`: in the idle stack, free to hand out.
 * - `validating`: taken from the idle stack and being checked before hand-out.
 * - `busy`: checked out by a caller.
 * - `returning`: given back, while the pool decides (within the same call) whether to reset,
 *   reuse or destroy it.
 * - `resetting`: given back and being reset before reuse.
 * - `gone`: destroyed (or being destroyed); a late `release` of it is ignored after `end()`.
 */
export type ResourceState =
  'new' | 'idle' | 'validating' | 'busy' | 'returning' | 'resetting' | 'gone';

export class PooledResource<T> {
  state: ResourceState = 'new';
  uses = 0;
  /** Monotonic time it last became idle (or was created). */
  lastUsedAt: number;
  /** Monotonic time it was last handed out. */
  acquiredAt = 0;
  /** Stack captured at acquire time, only when leak detection is on. */
  acquireStack: string | undefined = undefined;
  leakReported = false;
  /** Evicted while not idle: destroyed instead of reused when it comes back. */
  doomed = false;
  readonly createdAt: number;
  /** Monotonic time after which it is retired on return (Infinity: never). */
  readonly expiresAt: number;

  constructor(
    readonly resource: T,
    createdAt: number,
    lifetimeMillis: number,
  ) {
    this.createdAt = createdAt;
    this.lastUsedAt = createdAt;
    this.expiresAt = createdAt + lifetimeMillis;
  }
}
