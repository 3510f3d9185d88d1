/**
 * Corking across lanes: the sends of one batch of microtasks leave in one write per lane
 * (lane.ts).
 */

/** A lane, as far as the batch is concerned. */
export interface Uncorkable {
  uncork(): void;
}

/**
 * The lanes corked for the current batch of sends, uncorked together once the batch is over.
 * The queries sent in one batch of microtasks (callers answered by one socket read send
 * their next ones from there) leave in one write per lane: writev was a third of the CPU time
 * at 1000 callers with one per query. process.nextTick from a microtask runs once the
 * microtask queue is empty, before any I/O: it adds no latency.
 */
export class CorkBatch {
  readonly #corked: Uncorkable[] = [];
  readonly #flush = (): void => {
    const corked = this.#corked;
    // Uncorked whatever became of the lane meanwhile (failed, given back): the socket is the
    // connection's, and whoever has it now expects its writes to leave.
    for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
    corked.length = 0;
  };

  add(lane: Uncorkable): void {
    if (this.#corked.push(lane) === 1) process.nextTick(this.#flush);
  }
}
