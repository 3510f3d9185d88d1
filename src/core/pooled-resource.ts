/**
 * The pool's bookkeeping for one resource. A resource's state is which of these it is in;
 * only the pool changes it.
 *
 * - `idle`: in the idle stack, free to hand out.
 * - `busy`: checked out by a caller.
 * - `returning`: came back and is being reset, or is being validated before hand-out.
 * - `gone`: destroyed (or being destroyed); a late `release` of it is ignored after `end()`.
 */
export type ResourceState = 'idle' | 'busy' | 'returning' | 'gone';

export class PooledResource<T> {
  state: ResourceState = 'idle';
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
