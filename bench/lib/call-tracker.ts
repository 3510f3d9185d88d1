/**
 * Follows every call a fault run makes: when it started, whether and how it settled, how long
 * it took, and the error `code` it failed with. A promise that never settles is the worst
 * outcome a pool can produce (the caller hangs with no error to act on), so nothing here relies
 * on promises settling: each call carries a flag, and `hung()` lists those still open after a
 * grace period.
 */

/**
 * What a failed call's error is counted as: its string `code`, or that of its `cause` (an
 * error shaped like pg.Pool's, a plain `Error`, carries lifeguard's typed one as its cause), or
 * a label saying it had none.
 */
export function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const causeCode = ((error as { cause?: unknown }).cause as { code?: unknown } | undefined)
      ?.code;
    if (typeof causeCode === 'string' && causeCode !== '') return causeCode;
    const message = error instanceof Error ? error.message : '';
    return `untyped: ${error.constructor?.name ?? 'Object'}: ${message.slice(0, 80)}`;
  }
  return `untyped: ${typeof error}: ${String(error).slice(0, 80)}`;
}

/** True when the code came from a typed error (see `codeOf`). */
export function isTyped(code: string): boolean {
  return !code.startsWith('untyped: ');
}

export interface CallRecord {
  readonly label: string;
  /** performance.now() at the start. */
  readonly startedAt: number;
  settledAt: number | undefined;
  /** undefined while pending or after success. */
  code: string | undefined;
}

export interface TrackerSummary {
  calls: number;
  succeeded: number;
  failed: number;
  pending: number;
  /** Failures by code; untyped ones under `untyped: ...`. */
  errorsByCode: Record<string, number>;
}

export class CallTracker {
  readonly #records: CallRecord[] = [];
  readonly #pending = new Set<CallRecord>();

  /**
   * Runs `call` and records its outcome. Resolves with the outcome, never rejects, so a caller
   * loop can go on after a failure.
   */
  track<T>(
    label: string,
    call: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; code: string; error: unknown }> {
    const record: CallRecord = {
      label,
      startedAt: performance.now(),
      settledAt: undefined,
      code: undefined,
    };
    this.#records.push(record);
    this.#pending.add(record);
    const settle = (): void => {
      record.settledAt = performance.now();
      this.#pending.delete(record);
    };
    let promise: Promise<T>;
    try {
      promise = call();
    } catch (error) {
      promise = Promise.reject(error);
    }
    return promise.then(
      (value) => {
        settle();
        return { ok: true as const, value };
      },
      (error: unknown) => {
        record.code = codeOf(error);
        settle();
        return { ok: false as const, code: record.code, error };
      },
    );
  }

  get records(): readonly CallRecord[] {
    return this.#records;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Calls still pending that started more than `olderThanMillis` ago. */
  hung(olderThanMillis: number, now = performance.now()): CallRecord[] {
    return [...this.#pending].filter((r) => now - r.startedAt > olderThanMillis);
  }

  /** Resolves once nothing is pending, or after `timeoutMillis`; says which. */
  async drained(timeoutMillis: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMillis;
    while (this.#pending.size > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20).unref());
    }
    return this.#pending.size === 0;
  }

  /** Counts over the calls that started in [from, to) (all of them by default). */
  summary(from = -Infinity, to = Infinity): TrackerSummary {
    const errorsByCode: Record<string, number> = {};
    let calls = 0;
    let succeeded = 0;
    let failed = 0;
    let pending = 0;
    for (const r of this.#records) {
      if (r.startedAt < from || r.startedAt >= to) continue;
      calls++;
      if (r.settledAt === undefined) pending++;
      else if (r.code === undefined) succeeded++;
      else {
        failed++;
        errorsByCode[r.code] = (errorsByCode[r.code] ?? 0) + 1;
      }
    }
    return { calls, succeeded, failed, pending, errorsByCode };
  }

  /** Durations (ms) of the settled calls matching `filter`, sorted ascending. */
  durations(filter: (r: CallRecord) => boolean = () => true): number[] {
    const out: number[] = [];
    for (const r of this.#records) {
      if (r.settledAt !== undefined && filter(r)) out.push(r.settledAt - r.startedAt);
    }
    return out.sort((a, b) => a - b);
  }

  /** The first call to succeed at or after `from` (whenever it started), by settle time. */
  firstSuccessAfter(from: number): CallRecord | undefined {
    let first: CallRecord | undefined;
    for (const r of this.#records) {
      if (r.settledAt === undefined || r.settledAt < from || r.code !== undefined) continue;
      if (first === undefined || r.settledAt < first.settledAt!) first = r;
    }
    return first;
  }

  /** Forgets settled calls (for long runs); pending ones are kept. */
  compact(): void {
    const kept = this.#records.filter((r) => r.settledAt === undefined);
    this.#records.length = 0;
    this.#records.push(...kept);
  }
}

/** The q-quantile (0..1) of ascending-sorted values, or NaN when there are none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

/** Resolves after `ms` without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
