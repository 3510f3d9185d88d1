/**
 * New statements are on probation: until one run of a statement has been answered within
 * `pipelineSlowQueryMillis`, only that one run (the *pioneer*) is written onto a lane, and the
 * other runs of the same text that arrive meanwhile wait here for its verdict.
 *
 * Why: slow-statement learning (slow-statements.ts) needs a few runs before it knows a new
 * statement is slow, and a burst of a new slow statement arrives all at once. Twenty
 * `pg_sleep(1.5)` issued together went onto one lane, one after the other, with every fast
 * caller's next query behind them: 30 s for everyone (bench/slow-queries.ts). On probation,
 * one of them is written; the head-of-line check stops the lane within
 * `pipelineSlowQueryMillis`; when the pioneer answers slowly the others run apart, on the
 * isolated path, as statements known to be slow do; when it answers quickly they go to the
 * lanes at once.
 *
 * What it costs: one `Map#has` per pipelined query, with the text as key. A statement known
 * to be fast costs nothing more. The runs of a new statement that arrive while its first run
 * is in flight wait one round trip longer, once. The memory of fast statements is bounded
 * (`kCapacity`, oldest forgotten first), so an application that builds a new text per query
 * (values inline) only ever sees each text once and never waits.
 */
import { PoolClosedError } from '../../core/index.js';
import type { WaitQueue } from '../../core/internal.js';
import { Band, type PipelinedQuery } from './query.js';
import type { SlowStatements } from './slow-statements.js';

/** The most statements remembered as fast. */
const kCapacity = 1_000;

export class Probation {
  readonly #capacity: number;
  /** Statement texts answered fast at least once. */
  readonly #known = new Set<string>();
  /** Texts whose pioneer is in flight or waiting for a lane. */
  readonly #pioneering = new Set<string>();
  /** Where held runs wait (`Band.Held`) and where they go once their pioneer is done. */
  readonly #queue: WaitQueue<PipelinedQuery>;
  readonly #statements: SlowStatements;

  constructor(
    queue: WaitQueue<PipelinedQuery>,
    statements: SlowStatements,
    capacity: number = kCapacity,
  ) {
    this.#queue = queue;
    this.#statements = statements;
    this.#capacity = capacity;
  }

  /**
   * What to do with a run of `text`: `'go'` (known fast), `'pioneer'` (the first run in
   * flight: send it, and call `settled` once it has been answered or has failed), or
   * `'hold'` (wait in `Band.Held` for the pioneer).
   */
  admit(text: string): 'go' | 'pioneer' | 'hold' {
    if (this.#known.has(text)) return 'go';
    if (this.#pioneering.has(text)) return 'hold';
    this.#pioneering.add(text);
    return 'pioneer';
  }

  /**
   * The pioneer `entry` is settling: answered within the threshold (`answeredFast`), or not
   * (slow, or failed before an answer). The runs of its text held behind it go on, in order:
   * to the lanes, ahead of newer queries, when it was fast; apart, as known-slow ones, when
   * not; and they fail with `ERR_POOL_CLOSED` once the pool is `closed` (close() fails what
   * waits band by band: these must not land in one it has passed). True when runs moved.
   */
  settled(entry: PipelinedQuery, closed: boolean): boolean {
    const text = entry.text;
    const fast = entry.answeredFast;
    this.#pioneering.delete(text);
    if (fast) {
      const known = this.#known;
      if (known.size >= this.#capacity) known.delete(known.values().next().value!);
      known.add(text);
    }
    const queue = this.#queue;
    // Rare (runs of new statements that arrived together): a linear pass is fine.
    const held = queue.extract(Band.Held, (waiting) => waiting.text === text);
    if (held.length === 0) return false;
    if (closed) {
      for (const run of held) run.reject(closedWhileWaiting());
      return false;
    }
    // A burst of a new statement whose first run was slow: that is evidence enough, and the
    // burst must not reach the lanes (isolation would otherwise send them back, unmarked).
    const millis = entry.serviceMillis;
    if (!fast && !Number.isNaN(millis)) this.#statements.markSlow(text, millis);
    const band = fast ? Band.Retry : Band.Isolated;
    for (const run of held) queue.push(run, band);
    return true;
  }
}

export function closedWhileWaiting(): PoolClosedError {
  return new PoolClosedError('The pool was ended while this query waited');
}
