/**
 * The query that travels through the pipelined path, from dispatch until it settles, and the
 * bands of the dispatcher's wait queue (core/wait-queue.ts) it may wait in.
 */
import type pg from 'pg';

import type { QueryInput, QueryValues } from '../dispatch.js';

/**
 * Where a pipelined query waits. One `WaitQueue` holds them all, so that they share
 * `maxWaiting`, the timeout and `close()`; the pump serves `Retry` before `Lane`.
 */
export const Band = {
  /** Waiting for room on a lane; the band overload control watches and sheds from. */
  Lane: 0,
  /** Dispatched again after a failure proved it never left: goes before `Lane`. */
  Retry: 1,
  /** A known-slow statement waiting to run apart (isolation.ts). */
  Isolated: 2,
  /** A run of a new statement held for its first run's verdict (probation.ts). */
  Held: 3,
} as const;
export type Band = (typeof Band)[keyof typeof Band];
export const kBands = 4;

/** Where the router sends a pipelinable query (router.ts). */
export type Route = 'lane' | 'slow' | 'hold';

export class PipelinedQuery {
  readonly query: QueryInput;
  readonly values: QueryValues;
  readonly #resolve: (result: pg.QueryResult) => void;
  readonly #reject: (error: unknown) => void;
  /** Called once, just before it settles, however it settles (probation.ts). */
  onSettle: ((entry: PipelinedQuery) => void) | undefined = undefined;
  /** Where the router sent it. */
  route: Route = 'lane';
  /** The first run of a statement not yet seen answered fast (probation.ts). */
  pioneer = false;
  /**
   * The lane it is in flight on; undefined while it waits, and once it has left the lane. Only
   * lane.ts sets it, and only compares it with itself: typed as any object so that this file
   * need not import lane.ts, which imports it.
   */
  lane: object | undefined = undefined;
  /** When it was written (performance.now()), for the head-of-line check. */
  sentAt = 0;
  /** When it started waiting in the dispatcher's queue, for `acquireTimeoutMillis`. */
  enqueuedAt = 0;
  /** Already dispatched a second time after a failure that proved it was never sent. */
  retried = false;
  /** When the server started on it (lane.ts), once answered; NaN until then. */
  serviceStart = NaN;
  /** When it left its lane. */
  answeredAt = NaN;
  /** Answered within `pipelineSlowQueryMillis` of service (set before it settles). */
  answeredFast = false;

  constructor(
    query: QueryInput,
    values: QueryValues,
    resolve: (result: pg.QueryResult) => void,
    reject: (error: unknown) => void,
  ) {
    this.query = query;
    this.values = values;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** The text it is remembered by (slow statements, probation). */
  get text(): string {
    return statementText(this.query);
  }

  /** Its service time on the lane, once answered (NaN until then, or if it was lost). */
  get serviceMillis(): number {
    return this.answeredAt - this.serviceStart;
  }

  resolve(result: pg.QueryResult): void {
    this.#settling();
    this.#resolve(result);
  }

  reject(error: unknown): void {
    this.#settling();
    this.#reject(error);
  }

  #settling(): void {
    const onSettle = this.onSettle;
    if (onSettle === undefined) return;
    this.onSettle = undefined;
    onSettle(this);
  }
}

/** The text a query is remembered by (the dispatcher only asks for pipelinable ones). */
export function statementText(query: string | { text?: unknown }): string {
  return typeof query === 'string' ? query : (query.text as string);
}
