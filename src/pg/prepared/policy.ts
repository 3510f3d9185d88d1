/**
 * The pool-wide side of automatic prepared statements: which texts are worth a statement,
 * the counts, and the decision to stop preparing behind a pooler that loses them.
 *
 * Admission: a text gets a statement from its second use in the pool on. A statement costs
 * the server a cached plan per backend and a cache place here; a one-off text (SQL built with
 * inlined literals, a migration) would otherwise push hot statements out, each such eviction
 * costing a Close now and a Parse again later. Its first use costs what it does without
 * statements (an unnamed Parse), so the rule costs one Parse per text and connection at most.
 *
 * Pooler detection, in `auto` mode. Behind a transaction-mode pooler that does not keep
 * protocol-level statements per client (PgBouncer before 1.21, or with
 * `max_prepared_statements = 0`), consecutive transactions of one client socket run on
 * different backends: a statement prepared in one is missing in the next (26000) or a Parse
 * meets the same name prepared there by another client (42P05). Each such failure is retried
 * unnamed, so results stay right (send.ts), but it is evidence: then the connection is
 * asked once for `pg_backend_pid()`, against the process id the server (or the pooler)
 * announced at startup (BackendKeyData, pg's `client.processID`). On a direct session they
 * are equal, and the loss can only have been a `DISCARD ALL` / `DEALLOCATE` the application
 * ran on that connection: the cache is forgotten and preparing goes on. Otherwise a pooler
 * sits in between and loses statements: the pool stops preparing. Neither check alone would
 * do: the pid pair cannot tell a session-mode pooler (where statements are fine) from a
 * transaction-mode one, and comparing the pid of two transactions can see the same backend
 * twice by luck. A pooler that keeps statements (PgBouncer >= 1.21 with
 * `max_prepared_statements`, session mode) never produces the evidence, so they stay on.
 */
import type { CacheOwner, PgInternals, StatementCache } from './statement-cache.js';
import { StatementCache as Cache } from './statement-cache.js';
import type { PrepareSettings } from './settings.js';

/** Texts remembered as seen once; the set is emptied when it reaches this size. */
const kSeenMax = 10_000;

/** What `pool.stats().preparedStatements` shows. */
export interface PreparedStatementStats {
  /** Still preparing (false: off by option, or turned off behind a pooler). */
  readonly enabled: boolean;
  /** Parses of a named statement written. */
  readonly prepared: number;
  /** Queries sent under a statement already parsed on their connection. */
  readonly hits: number;
  /** Statements closed to make room. */
  readonly evicted: number;
  /** Queries run again unnamed after their statement was lost or outdated (26000, 0A000, 42P05). */
  readonly retried: number;
}

export class PreparePolicy implements CacheOwner {
  readonly capacity: number;
  readonly #mode: PrepareSettings['mode'];
  #enabled = true;
  #seen = new Set<string>();
  readonly #counts = { prepared: 0, hit: 0, evicted: 0, retried: 0 };
  readonly #log: ((...messages: unknown[]) => void) | undefined;

  constructor(settings: PrepareSettings, log?: (...messages: unknown[]) => void) {
    this.capacity = settings.capacity;
    this.#mode = settings.mode;
    this.#log = log;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** A cache for the connection under `client`, or undefined if its Client is not pg's own. */
  attach(client: unknown): StatementCache | undefined {
    const internals = client as PgInternals;
    const connection = internals.connection;
    if (typeof connection?.parsedStatements !== 'object' || connection.parsedStatements === null) {
      return undefined;
    }
    return new Cache(this, internals);
  }

  admit(text: string): boolean {
    const seen = this.#seen;
    if (seen.has(text)) return true;
    if (seen.size >= kSeenMax) this.#seen = new Set<string>();
    this.#seen.add(text);
    return false;
  }

  counted(event: 'prepared' | 'hit' | 'evicted' | 'retried'): void {
    this.#counts[event]++;
  }

  stats(): PreparedStatementStats {
    const counts = this.#counts;
    return {
      enabled: this.#enabled,
      prepared: counts.prepared,
      hits: counts.hit,
      evicted: counts.evicted,
      retried: counts.retried,
    };
  }

  /**
   * A statement this connection had prepared and seen work is gone, or a Parse met a name it
   * never parsed: a pooler in between, or the application's DISCARD ALL? (See the top.)
   */
  lost(cache: StatementCache, client: unknown): void {
    if (this.#mode !== 'auto' || !this.#enabled || cache.probed) return;
    cache.probed = true;
    const pid = (client as PgInternals).processID;
    if (typeof pid !== 'number' || !Number.isInteger(pid)) {
      this.#disable('the server announced no process id');
      return;
    }
    const probe = (): void =>
      (client as Probe).query(`SELECT 1 WHERE pg_backend_pid() = ${pid}`, (error, result) => {
        if (error !== null && error !== undefined)
          cache.probed = false; // ask again next time
        else if (result?.rowCount === 0) this.#disable('a connection pooler loses them');
      });
    // Without pg's pipeline mode the failed query's retry is queued now: the probe waits until
    // pg has nothing queued, as pg deprecates queueing a second query on a client.
    const waits = client as { pipeline?: boolean; once?(event: 'drain', fn: () => void): void };
    if (waits.pipeline === true || typeof waits.once !== 'function') probe();
    else waits.once('drain', probe);
  }

  #disable(reason: string): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#log?.(`automatic prepared statements turned off: ${reason}`);
  }
}

interface Probe {
  query(
    text: string,
    callback: (error: unknown, result: { rowCount: number | null } | undefined) => void,
  ): void;
}
