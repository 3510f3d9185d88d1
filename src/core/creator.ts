import { createEndChannel, createStartChannel, type CreateMessage } from './channels.js';
import type { Clock } from './clock.js';
import { attemptCreate } from './create-attempt.js';
import { CreateBackoff } from './create-backoff.js';
import { CreateFailedError } from './errors.js';
import type { NormalizedOptions } from './options.js';
import type {
  CircuitState,
  CreateErrorKind,
  CreateFailureCost,
  Factory,
  PoolEvents,
} from './types.js';

export type CircuitChange = PoolEvents<unknown>['circuit'];

/** What the pool does with the outcome of each attempt. */
export interface CreatorHost<T> {
  /** The pool itself, as channel messages name it. */
  readonly pool: object;
  created(resource: T, durationMillis: number): void;
  /**
   * An attempt failed; the backoff has already recorded it, and `circuit` is the change of
   * circuit state it caused, if any, for the host to announce after the error itself. Not
   * called once `end()` has aborted the attempts.
   */
  failed(error: CreateFailedError, kind: CreateErrorKind, circuit?: CircuitChange): void;
  /**
   * A resource that arrived after its attempt timed out or was aborted: destroy it, then call
   * `done` (which frees the attempt's budget slot).
   */
  late(resource: T, done: () => void): void;
  /**
   * An attempt that produced no pooled resource has fully settled (its factory call, and the
   * destroy of a late resource): its budget slot, if any, is free again. Exactly once per
   * such attempt; never for one that created a resource (the pool frees that slot when it
   * destroys the resource).
   */
  slotFreed(): void;
  circuit(event: CircuitChange): void;
  /** Keeps the attempt visible to `end()`, which waits for it to settle. */
  track(task: Promise<unknown>): void;
}

/**
 * Starts creations and keeps what follows from their outcomes: the count in flight, the
 * backoff and circuit state (with its `circuit` events), the create channels, and the
 * classification of failures. The pool decides when to create; this decides nothing about
 * waiters.
 */
export class Creator<T> {
  /** Creations in flight. */
  pending = 0;
  readonly backoff: CreateBackoff;
  private readonly _controllers = new Set<AbortController>();
  private _closing = false;

  constructor(
    private readonly _factory: Factory<T>,
    private readonly _options: NormalizedOptions,
    private readonly _now: Clock,
    private readonly _host: CreatorHost<T>,
  ) {
    this.backoff = new CreateBackoff({
      baseMillis: _options.createRetryBaseMillis,
      capMillis: _options.createRetryMaxMillis,
      probeMillis: _options.createProbeIntervalMillis,
      threshold: _options.circuitBreakerThreshold,
    });
  }

  start(): void {
    this.pending++;
    const startedAt = this._now();
    const message = this._startMessage();
    let pooled = false;
    let freed = false;
    const free = (): void => {
      if (pooled || freed) return;
      freed = true;
      this._host.slotFreed();
    };
    let lateArrived = false;
    const { controller, settled } = attemptCreate(
      this._factory,
      this._options.createTimeoutMillis,
      {
        created: (resource) => {
          pooled = true;
          this._settle(controller, message, startedAt, { resource });
          this._created(resource, startedAt);
        },
        failed: (error) => {
          this._settle(controller, message, startedAt, { error });
          this._failed(error);
        },
        late: (resource) => {
          lateArrived = true;
          this._host.late(resource, free);
        },
      },
    );
    this._controllers.add(controller);
    // A failed attempt's slot stays taken until its factory call settles: a connection that
    // turns up late is still a connection to the server.
    this._host.track(settled.then(() => lateArrived || free()));
  }

  /** Gives up every attempt in flight (`end()`); failures from now on are not reported. */
  abortAll(reason: Error): void {
    this._closing = true;
    for (const controller of this._controllers) controller.abort(reason);
  }

  /**
   * The first attempt after the open circuit's delay: the circuit goes half-open, unless the
   * last failure cost the server nothing (see `CreateBackoff.probeHalfOpens`).
   */
  probe(): void {
    if (this.backoff.probeHalfOpens()) this._setCircuit('half-open');
  }

  private _startMessage(): CreateMessage<T> | undefined {
    if (!createStartChannel.hasSubscribers && !createEndChannel.hasSubscribers) return undefined;
    const message: CreateMessage<T> = { pool: this._host.pool, name: this._options.name };
    if (createStartChannel.hasSubscribers) createStartChannel.publish(message);
    return message;
  }

  private _settle(
    controller: AbortController,
    message: CreateMessage<T> | undefined,
    startedAt: number,
    outcome: { resource: T } | { error: unknown },
  ): void {
    this.pending--;
    this._controllers.delete(controller);
    if (message === undefined) return;
    message.durationMillis = this._now() - startedAt;
    if ('resource' in outcome) message.resource = outcome.resource;
    else message.error = outcome.error;
    if (createEndChannel.hasSubscribers) createEndChannel.publish(message);
  }

  private _created(resource: T, startedAt: number): void {
    const durationMillis = this._now() - startedAt;
    const previous = this.backoff.state;
    this.backoff.recordSuccess();
    if (previous !== 'closed')
      this._host.circuit({ state: 'closed', previous, lastError: undefined });
    this._host.created(resource, durationMillis);
  }

  private _failed(cause: unknown): void {
    if (this._closing) return; // aborted by end(), not a failure
    const t = this._now();
    const error = new CreateFailedError(cause, this.backoff.failures + 1);
    const kind = this._classify(cause);
    if (kind !== 'unavailable') {
      // Not an outage, so the circuit stays as it is; but each attempt may cost the server a
      // session, so after a permanent failure the next one still waits its delay.
      if (kind === 'permanent') this.backoff.recordFailure(error, t, this._cost(cause), false);
      this._host.failed(error, kind);
      return;
    }
    const previous = this.backoff.state;
    const state = this.backoff.recordFailure(error, t, this._cost(cause));
    this._host.failed(
      error,
      kind,
      state === previous ? undefined : { state, previous, lastError: error },
    );
  }

  private _classify(error: unknown): CreateErrorKind {
    const factory = this._factory;
    try {
      if (factory.classifyCreateError !== undefined) return factory.classifyCreateError(error);
      if (factory.retryable?.(error) === false) return 'permanent';
    } catch {
      // A classifier that throws says nothing: treat it as the safe default.
    }
    return 'unavailable';
  }

  /** What the failure cost the server; a hook that throws or answers nonsense: `'costly'`. */
  private _cost(error: unknown): CreateFailureCost {
    try {
      const cost = this._factory.createFailureCost?.(error);
      if (cost === 'free' || cost === 'starting') return cost;
    } catch {
      // The safe default: back off as if the attempt had cost the server a session.
    }
    return 'costly';
  }

  private _setCircuit(state: CircuitState): void {
    const previous = this.backoff.state;
    if (previous === state) return;
    this.backoff.state = state;
    this._host.circuit({ state, previous, lastError: this.backoff.lastError });
  }
}
