/**
 * The route of a `pool.query()`: the exclusive path (what cannot be pipelined safely,
 * pipelinable.ts), apart (a statement known to be slow, isolation.ts), held (a run of a new
 * statement whose first run is out, probation.ts), or a lane. And what the lanes learn about
 * statements on the way: every answer's service time feeds the slow-statement memory
 * (slow-statements.ts) that the next routes read.
 */
import type { WaitQueue } from '../../core/internal.js';
import type { QueryInput, QueryValues } from '../dispatch.js';
import { isPipelinable } from './pipelinable.js';
import { Probation } from './probation.js';
import type { PipelinedQuery } from './query.js';
import type { SlowStatements } from './slow-statements.js';

/** What the router needs from the dispatcher. */
export interface RouterHost {
  readonly closed: boolean;
  /** Held runs moved on: place them. */
  pump(): void;
}

export class Router {
  readonly #slowQueryMillis: number;
  /** Undefined when slow statements are not run apart (no isolation). */
  readonly #statements: SlowStatements | undefined;
  /** New statements' runs held for their first run's verdict; with isolation only. */
  readonly #probation: Probation | undefined;
  readonly #host: RouterHost;
  readonly #pioneerDone = (entry: PipelinedQuery): void => {
    if (this.#probation!.settled(entry, this.#host.closed)) this.#host.pump();
  };

  constructor(
    slowQueryMillis: number,
    statements: SlowStatements | undefined,
    queue: WaitQueue<PipelinedQuery>,
    host: RouterHost,
  ) {
    this.#slowQueryMillis = slowQueryMillis;
    this.#statements = statements;
    this.#probation = statements === undefined ? undefined : new Probation(queue, statements);
    this.#host = host;
  }

  /** Whether `query` may share a lane at all (else: the exclusive path). */
  pipelinable(query: QueryInput, values: QueryValues): boolean {
    return isPipelinable(query, values);
  }

  /**
   * Sets `entry.route`. A first run of a new statement (a pioneer) hands the runs held behind
   * it on as it settles, whichever way it settles (answer, failure, timeout, shedding, end),
   * so that none is stranded.
   */
  admit(entry: PipelinedQuery): void {
    const probation = this.#probation;
    if (probation === undefined) return;
    const text = entry.text;
    const verdict = probation.admit(text);
    if (verdict === 'pioneer') {
      entry.onSettle = this.#pioneerDone;
      entry.pioneer = true;
    }
    if (this.#statements!.isSlow(text)) entry.route = 'slow';
    else if (verdict === 'hold') entry.route = 'hold';
  }

  /** `entry` was answered on a lane (a result or a SQL error): how long did it take? */
  observe(entry: PipelinedQuery): void {
    const millis = entry.serviceMillis;
    entry.answeredFast = millis <= this.#slowQueryMillis;
    const statements = this.#statements;
    if (statements === undefined) return;
    if (!entry.answeredFast) {
      statements.observeSlow(entry.text, entry.serviceStart, entry.answeredAt);
    } else if (statements.suspicious) {
      statements.observeFast(entry.text);
    }
  }

  /** `head` holds up its lane: in service since `since`, not answered by `now`. */
  stuck(head: PipelinedQuery, since: number, now: number): void {
    this.#statements?.observeSlow(head.text, since, now);
  }

  /**
   * `head` holds up its lane with a large answer. One run is evidence enough, unlike a slow
   * one (slow-statements.ts): a stall of this process or the server makes queries look slow,
   * never large. Its isolated runs bring it back to the lanes if they are fast.
   */
  large(head: PipelinedQuery): void {
    this.#statements?.markSlow(head.text, NaN);
  }
}
