import { boundedCall } from './bounded-call.js';
import { destroyChannel } from './channels.js';
import { HookFailedError } from './errors.js';
import type { PoolStatsRecorder } from './stats.js';
import type { DestroyReason, Factory } from './types.js';

/** How the disposer reports: the pool's events, as the pool emits them. */
export interface DisposerHost<T> {
  /** The pool itself, as channel messages name it. */
  readonly pool: object;
  readonly name: string;
  destroyed(event: { resource: T; reason: DestroyReason; error?: unknown }): void;
  failed(error: HookFailedError, resource: T): void;
}

/**
 * Runs `factory.destroy` for resources that have already left the pool, and keeps every
 * background task (destroys, validations, resets, creations) that `end()` must wait for.
 * A destroy can neither throw nor hang: it is bounded by `destroyTimeoutMillis`, and its
 * failure becomes an `error` event.
 */
export class Disposer<T> {
  private readonly _settling = new Set<Promise<unknown>>();

  constructor(
    private readonly _factory: Factory<T>,
    private readonly _timeoutMillis: number,
    private readonly _stats: PoolStatsRecorder,
    private readonly _host: DisposerHost<T>,
  ) {}

  /** `done`, if given, runs once the destroy has settled, whether it succeeded or not. */
  destroy(resource: T, reason: DestroyReason, error?: unknown, done?: () => void): void {
    this._stats.destroyed(reason);
    this._host.destroyed(error === undefined ? { resource, reason } : { resource, reason, error });
    if (destroyChannel.hasSubscribers) {
      const { pool, name } = this._host;
      destroyChannel.publish(
        error === undefined
          ? { pool, name, resource, reason }
          : { pool, name, resource, reason, error },
      );
    }
    const timeout = this._timeoutMillis;
    this.track(
      boundedCall(
        () => this._factory.destroy(resource, reason),
        timeout,
        () => new HookFailedError('destroy', undefined, timeout),
      ).then(undefined, (failure: unknown) => {
        const wrapped =
          failure instanceof HookFailedError ? failure : new HookFailedError('destroy', failure);
        this._host.failed(wrapped, resource);
      }),
      done,
    );
  }

  /** Keeps a background task visible to `settled()`; `done` runs when it settles. */
  track(task: Promise<unknown>, done?: () => void): void {
    this._settling.add(task);
    void task.finally(() => {
      this._settling.delete(task);
      done?.();
    });
  }

  /** Resolves once every task has settled, including those started meanwhile. */
  async settled(): Promise<void> {
    while (this._settling.size > 0) await Promise.allSettled([...this._settling]);
  }
}
