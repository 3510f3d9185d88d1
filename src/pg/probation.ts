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
import { FifoQueue } from '../core/internal.js';
import type { PipelinedQuery } from './lane.js';
import { statementText } from './slow-statements.js';

/** The most statements remembered as fast. */
const kCapacity = 1_000;

export class Probation {
  readonly #capacity: number;
  /** Statement texts answered fast at least once. */
  readonly #known = new Set<string>();
  /** Texts whose pioneer is in flight or waiting for a lane. */
  readonly #pioneering = new Set<string>();
  /** Runs waiting for their pioneer's verdict, oldest first (all texts together). */
  readonly held = new FifoQueue<PipelinedQuery>();

  constructor(capacity: number = kCapacity) {
    this.#capacity = capacity;
  }

  /**
   * What to do with a run of `text`: `'go'` (known fast), `'pioneer'` (the first run in
   * flight: send it, and call `settled` once it has been answered or has failed), or
   * `'hold'` (wait in `held` for the pioneer).
   */
  admit(text: string): 'go' | 'pioneer' | 'hold' {
    if (this.#known.has(text)) return 'go';
    if (this.#pioneering.has(text)) return 'hold';
    this.#pioneering.add(text);
    return 'pioneer';
  }

  /**
   * The pioneer of `text` is done: answered within the threshold (`fast`), or not (slow, or
   * failed before an answer). Returns the held runs of `text`, in order, for the caller to
   * place: on the lanes when fast, apart when slow.
   */
  settled(text: string, fast: boolean): PipelinedQuery[] {
    this.#pioneering.delete(text);
    if (fast) {
      const known = this.#known;
      if (known.size >= this.#capacity) known.delete(known.values().next().value!);
      known.add(text);
    }
    const held = this.held;
    if (held.isEmpty()) return [];
    // Rare (runs of new statements that arrived together): a linear pass is fine.
    const released: PipelinedQuery[] = [];
    const kept: PipelinedQuery[] = [];
    for (const entry of held.drain()) {
      if (statementText(entry.query) === text) released.push(entry);
      else kept.push(entry);
    }
    for (const entry of kept) held.push(entry);
    return released;
  }
}
