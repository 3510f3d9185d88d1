/**
 * The read path of the replica router: which replica serves a read (power of two choices
 * among the usable ones, and only those that have replayed past the caller's read-your-writes
 * token), waiting a little for one to catch up with the token, falling back to the primary (or
 * failing), and retrying a read once elsewhere when its replica fails under it.
 */
import type { Pool } from '../pg/index.js';
import { RoutingError } from './errors.js';
import { pickTwo } from './replicas-choice.js';
import { tokenSatisfied } from './replicas-consistency.js';
import { isReadOnlyRefusal, isReplicaFailure } from './replicas-failures.js';
import { parseLsn } from './replicas-lsn.js';
import type { Member } from './replicas-member.js';
import { sleep } from './replicas-timeout.js';

/** What the read path needs of its router. */
export interface ReadHost {
  readonly name: string;
  primary(): Member;
  replicas(): readonly Member[];
  /** A read failed on `member` in a way that says the replica is in trouble. */
  suspect(member: Member): void;
}

export interface ReadSettings {
  readonly fallback: 'primary' | 'fail';
  readonly tokenWaitMillis: number;
  readonly random: () => number;
}

export class ReadPath {
  readonly #host: ReadHost;
  readonly #settings: ReadSettings;

  constructor(host: ReadHost, settings: ReadSettings) {
    this.#host = host;
    this.#settings = settings;
  }

  /** A usable replica known (without asking it) to satisfy `token`, other than `except`. */
  pick(token: bigint | undefined, except?: Member): Member | undefined {
    const ready = this.#usable().filter(
      (member) => member !== except && tokenSatisfied(member.replayLsn, token),
    );
    return pickTwo(ready, this.#settings.random);
  }

  /**
   * The member for a read, now: a replica `pick` finds; the primary when replicas are usable
   * but none is known to have reached `token`; else the fallback (the primary, or a throw).
   */
  choose(token: bigint | undefined): Member {
    if (this.#usable().length === 0) return this.#fallback();
    return this.pick(token) ?? this.#host.primary();
  }

  /** The member for a read: as `choose`, but waiting (polling) for a replica to catch up. */
  async target(token: bigint | undefined): Promise<Member> {
    const usable = this.#usable();
    if (usable.length === 0) return this.#fallback();
    const ready = this.pick(token);
    if (ready !== undefined) return ready;
    // No replica is known to be far enough: wait for one, then read where the write is.
    const chosen = pickTwo(usable, this.#settings.random)!;
    return (await this.#caughtUp(chosen, token!)) ? chosen : this.#host.primary();
  }

  /**
   * Runs `exec` where `target` says. `retry`: a replica failure (57P01, 57P03, 40001, a lost
   * connection) runs it once more on another replica or the fallback, and a 25006 (the
   * statement wrote after all, through a function) runs it on the primary. Transactions pass
   * `retry: false`: their function may have done more than the database can undo.
   */
  async run<R>(
    token: bigint | undefined,
    exec: (pool: Pool) => Promise<R>,
    retry: boolean,
  ): Promise<R> {
    const member = await this.target(token);
    const primary = this.#host.primary();
    if (member === primary) return exec(primary.pool);
    try {
      return await member.timed(exec);
    } catch (error) {
      if (retry && isReadOnlyRefusal(error)) return exec(primary.pool);
      if (!isReplicaFailure(error)) throw error;
      this.#host.suspect(member);
      if (!retry) throw error;
      const other = this.pick(token, member) ?? this.#fallbackOr(error);
      return other === primary ? exec(primary.pool) : other.timed(exec);
    }
  }

  #usable(): Member[] {
    return this.#host.replicas().filter((member) => member.usable);
  }

  #fallback(): Member {
    if (this.#settings.fallback === 'primary') return this.#host.primary();
    const states = this.#host
      .replicas()
      .map((member) => `${member.name}: ${member.reason ?? member.state}`)
      .join(', ');
    throw new RoutingError(
      'ERR_ROUTING_NO_REPLICA',
      `No replica of ${this.#host.name} can take reads (${states}), and fallback is 'fail'`,
    );
  }

  /** The fallback after a failed read; with `fallback: 'fail'`, the read's own error. */
  #fallbackOr(error: unknown): Member {
    if (this.#settings.fallback === 'primary') return this.#host.primary();
    throw error;
  }

  /**
   * Polls `member`'s replay position until it reaches `token`, for at most `tokenWaitMillis`.
   * PostgreSQL before 19 has no `WAIT FOR LSN`; a poll is one cheap round trip.
   */
  async #caughtUp(member: Member, token: bigint): Promise<boolean> {
    const wait = this.#settings.tokenWaitMillis;
    const deadline = performance.now() + wait;
    const step = Math.max(1, Math.min(10, wait / 10));
    for (;;) {
      try {
        const { rows } = await member.pool.query<{ lsn: string | null }>(
          'SELECT pg_last_wal_replay_lsn()::text AS lsn',
        );
        member.sawReplay(parseLsn(rows[0]?.lsn));
      } catch {
        return false; // the read goes to the primary; the monitor judges the replica
      }
      if (tokenSatisfied(member.replayLsn, token)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await sleep(Math.min(step, left));
    }
  }
}
