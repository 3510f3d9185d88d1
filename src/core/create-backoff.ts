import type { CircuitState } from './types.js';

/**
 * Decides when the pool may try to create a resource again after failures, and whether it
 * should fail fast meanwhile.
 *
 * - After each consecutive failure n, the next attempt waits a random delay in
 *   [0, min(cap, base * 2^(n-1))] ("full jitter"), so that many processes recovering from the
 *   same outage spread their reconnects instead of stampeding the server.
 * - While failures are outstanding, attempts are serialized: one probe at a time, however
 *   many callers wait.
 * - After `threshold` consecutive failures the circuit opens: callers are rejected at once
 *   until the retry time, then one probe runs (half-open); its success closes the circuit.
 */
export class CreateBackoff {
  state: CircuitState = 'closed';
  failures = 0;
  /** Monotonic time before which no new attempt may start. */
  retryAt = 0;
  lastError: unknown = undefined;

  constructor(
    private readonly baseMillis: number,
    private readonly capMillis: number,
    private readonly threshold: number,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Records a failure. Returns the new circuit state. With `opensCircuit` false (a failure
   * that reached the server but is no outage, such as a wrong password) the next attempt still
   * waits its delay, so that callers cannot hammer the server, but the circuit stays as it is.
   */
  recordFailure(error: unknown, now: number, opensCircuit = true): CircuitState {
    this.failures++;
    this.lastError = error;
    const ceiling = Math.min(this.capMillis, this.baseMillis * 2 ** (this.failures - 1));
    this.retryAt = now + Math.max(1, this.random() * ceiling);
    if (!opensCircuit) return this.state;
    if (this.state === 'half-open' || this.failures >= this.threshold) this.state = 'open';
    return this.state;
  }

  /** Records a success: everything resets. */
  recordSuccess(): void {
    this.failures = 0;
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
}
