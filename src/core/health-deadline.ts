/**
 * The deadline of one health check (src/core/health.ts): one timer and one signal for the
 * acquire and the probe together, so a check answers within `timeoutMillis` whatever it waits
 * on, and the signal tells a source or a probe that can cancel when to give up.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;

  constructor(timeoutMillis: number) {
    this.#timer = setTimeout(() => this.#controller.abort(), timeoutMillis);
    // A health check must never keep the process alive on its own.
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#controller.signal.aborted;
  }

  /**
   * Settles like `promise`, or rejects at the deadline. `promise` is always observed, so one
   * that fails after the deadline is not an unhandled rejection.
   */
  race<V>(promise: Promise<V>): Promise<V> {
    const signal = this.#controller.signal;
    return new Promise<V>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}
