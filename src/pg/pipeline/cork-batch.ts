/**
 * The lanes corked for the current turn of the event loop, uncorked together at its end, so
 * that each lane's queries leave in as few socket writes as possible.
 *
 * A lane corks its socket at its first send and joins the batch; the batch uncorks every
 * lane in `setImmediate`, the check phase of the same loop iteration: after every socket
 * that was readable in this iteration has been read, and every caller those answers woke has
 * sent its next query. A write costs a system call that, on loopback, also runs the
 * receiving side's TCP path (writev was a quarter of the CPU time at 100 callers). Flushing
 * per read instead (process.nextTick) wrote once per socket read per lane: about twice as
 * many writes per query at 100 callers on two lanes (BENCHMARKS.md, issue 14). The check
 * phase comes before the loop waits for I/O again, so no answer waits on it.
 */
export interface Uncorkable {
  /** Releases the socket's held writes; a no-op when it holds none. */
  uncork(): void;
}

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
    // Not unref'd, unlike the pool's timers: held writes must leave even if nothing else runs.
    if (this.#corked.push(lane) === 1) setImmediate(this.#flush);
  }
}
