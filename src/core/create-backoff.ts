import type { CircuitState, CreateFailureCost } from './types.js';

/** How long the pool waits between attempts after failures, by what they cost the server. */
export interface BackoffSettings {
  /** `createRetryBaseMillis`: the first ceiling of the exponential backoff. */
  readonly baseMillis: number;
  /** `createRetryMaxMillis`: no delay, of any cost, is longer. */
  readonly capMillis: number;
  /** `createProbeIntervalMillis`: the pace of probes that cost the server nothing. */
  readonly probeMillis: number;
  /** `circuitBreakerThreshold`. */
  readonly threshold: number;
}

/**
 * Decides when the pool may try to create a resource again after failures, and whether it
 * should fail fast meanwhile. It backs off by cost (see `CreateFailureCost`):
 *
 * - After a failure that reached the server (`'costly'`, the n-th since the last success),
 *   the next attempt waits a random delay in [0, min(cap, base * 2^(n-1))] ("full jitter"), so
 *   that many processes recovering from the same outage spread their reconnects instead of
 *   stampeding the server.
 * - After one that cost the server nothing (`'free'`: refused), it waits `probe` to 1.5 times
 *   that, at random, without growth: a server that comes back is found within that long.
 * - After "starting up" (`'starting'`), it waits `probe`, fixed: the server says it will
 *   accept soon, and attempts already spread by earlier jitter stay spread.
 * - While failures are outstanding, attempts are serialized: one probe at a time, however
 *   many callers wait.
 * - After `threshold` consecutive failures (of any cost) the circuit opens: callers are
 *   rejected at once until the retry time, then one probe runs; its success closes the
 *   circuit. A probe after a costly failure half-opens it (a trial callers may wait on); a
 *   probe after a free or starting one leaves it open, since such probes run several times a
 *   second and are no sign yet that the server is back.
 */
export class CreateBackoff {
  state: CircuitState = 'closed';
  /** Consecutive failures, of any cost. */
  failures = 0;
  /** Consecutive failures that reached the server: the exponent of the backoff. */
  costlyFailures = 0;
  /** What the last failure cost, which decides whether the next probe half-opens. */
  lastCost: CreateFailureCost = 'costly';
  /** Monotonic time before which no new attempt may start. */
  retryAt = 0;
  lastError: unknown = undefined;

  constructor(
    private readonly settings: BackoffSettings,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Records a failure. Returns the new circuit state. With `opensCircuit` false (a failure
   * that reached the server but is no outage, such as a wrong password) the next attempt still
   * waits its delay, so that callers cannot hammer the server, but the circuit stays as it is.
   */
  recordFailure(
    error: unknown,
    now: number,
    cost: CreateFailureCost = 'costly',
    opensCircuit = true,
  ): CircuitState {
    this.failures++;
    this.lastError = error;
    this.lastCost = cost;
    if (cost === 'costly') this.costlyFailures++;
    this.retryAt = now + Math.max(1, this._delay(cost));
    if (!opensCircuit) return this.state;
    if (this.state === 'half-open' || this.failures >= this.settings.threshold) this.state = 'open';
    return this.state;
  }

  private _delay(cost: CreateFailureCost): number {
    const { baseMillis, capMillis, probeMillis } = this.settings;
    if (cost === 'free') return Math.min(capMillis, probeMillis * (1 + this.random() / 2));
    if (cost === 'starting') return Math.min(capMillis, probeMillis);
    return this.random() * Math.min(capMillis, baseMillis * 2 ** (this.costlyFailures - 1));
  }

  /** Records a success: everything resets. */
  recordSuccess(): void {
    this.failures = 0;
    this.costlyFailures = 0;
    this.lastCost = 'costly';
    this.retryAt = 0;
    this.lastError = undefined;
    this.state = 'closed';
  }

  /** Whether a new attempt may start now (ignoring how many are already in flight). */
  mayAttempt(now: number): boolean {
    return this.failures === 0 || now >= this.retryAt;
  }

  /** Whether callers without an idle resource should be rejected at once. */
  rejectsCallers(now: number): boolean {
    return this.state === 'open' && now < this.retryAt;
  }

  /** Whether the probe about to run, with the circuit open, is a trial that half-opens it. */
  probeHalfOpens(): boolean {
    return this.state === 'open' && this.lastCost === 'costly';
  }
}
