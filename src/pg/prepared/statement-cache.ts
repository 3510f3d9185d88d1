/**
 * One connection's named statements: which query texts have one, under which name, and
 * whether its Parse has been written. pg decides whether to send Parse from its own record
 * (`connection.parsedStatements`, filled at ParseComplete, and `submittedNamedStatements`);
 * this cache decides it at send time instead and sets pg's record to match, so that two
 * queries of one text written back to back on a pipelined lane never both carry a Parse (the
 * second would fail with 42P05).
 *
 * Names are `lg_<hash of the text>_<counter>`: a statement of that name holds that text on
 * any server session. Behind a transaction pooler that does not keep statements per client,
 * a Bind may reach a backend where another client prepared the name: it then runs the same
 * text, never another statement (a counter alone, `lg_1`, would run someone else's).
 *
 * Eviction is CLOCK (second chance): a hit only sets a flag, so the hot path does no Map
 * reordering; the oldest statement not used since the last sweep is closed (Close 'S', written
 * in front of the next prepared query, in the same Sync group, in order: see `beforeSend`).
 */
import { createHash } from 'node:crypto';

/** The parts of pg's Client (lib/client.js, lib/connection.js) this cache reads and writes. */
export interface PgInternals {
  connection?: {
    parsedStatements?: Record<string, string>;
    submittedNamedStatements?: Record<string, string>;
    close?(message: { type: 'S'; name: string }): void;
    stream?: { cork?(): void; uncork?(): void };
  };
  pipeline?: boolean;
  readyForQuery?: boolean;
  _queryQueue?: unknown[];
  processID?: number | null;
}

export class Statement {
  readonly text: string;
  readonly #hash: string;
  /** Its current name; '' once it left the cache. */
  name = '';
  /** pg's config for a string query with values, reused by every send of this name. */
  config: { text: string; name: string };
  /** A Parse for `name` has been written on this connection. */
  parseSent = false;
  /** A query under `name` succeeded: the server has it (as far as this session goes). */
  confirmed = false;
  /**
   * CLOCK's reference bit: used since the last eviction sweep passed it. Clear at first, so
   * that under pressure a statement used since outlives one only just added.
   */
  referenced = false;

  constructor(text: string, hash: string) {
    this.text = text;
    this.#hash = hash;
    this.config = { text, name: '' };
  }

  /** The hash part of its names. */
  get hash(): string {
    return this.#hash;
  }

  rename(name: string): void {
    this.name = name;
    this.config = { text: this.text, name };
    this.parseSent = false;
    this.confirmed = false;
  }
}

/** What the pool-wide policy counts and decides (policy.ts). */
export interface CacheOwner {
  readonly capacity: number;
  /** Still preparing. */
  readonly enabled: boolean;
  /** Whether `text` may get a statement (seen before). */
  admit(text: string): boolean;
  counted(event: 'prepared' | 'hit' | 'evicted' | 'retried'): void;
  /** A statement this connection relied on is gone (policy.ts decides what that means). */
  lost(cache: StatementCache, client: unknown): void;
}

export class StatementCache {
  readonly owner: CacheOwner;
  /** A lost statement on this connection was looked into (policy.ts): once per connection. */
  probed = false;
  readonly #client: PgInternals;
  /** pg's record as of the last send: a new object means lifeguard ran DEALLOCATE ALL. */
  #parsed: Record<string, string> | undefined;
  readonly #statements = new Map<string, Statement>();
  #closes: string[] = [];
  #counter = 0;

  constructor(owner: CacheOwner, client: PgInternals) {
    this.owner = owner;
    this.#client = client;
    this.#parsed = client.connection?.parsedStatements;
  }

  get size(): number {
    return this.#statements.size;
  }

  /** The statement for `text`, or undefined when it is not (yet) to be prepared. */
  lookup(text: string): Statement | undefined {
    if (this.#client.connection?.parsedStatements !== this.#parsed) this.#forgotten();
    let statement = this.#statements.get(text);
    if (statement !== undefined) {
      statement.referenced = true;
      return statement;
    }
    if (!this.owner.admit(text)) return undefined;
    if (this.#statements.size >= this.owner.capacity) this.#evictOne();
    statement = new Statement(text, hashOf(text));
    statement.rename(this.#nextName(statement));
    this.#statements.set(text, statement);
    return statement;
  }

  /**
   * Just before `statement` is sent under its name: the Closes of evicted statements go out
   * first, and pg is told whether to Parse (it parses a name it has no record of). Returns
   * whether this send carries the Parse.
   */
  beforeSend(statement: Statement): boolean {
    const connection = this.#client.connection!;
    if (this.#closes.length > 0) this.#writeCloses();
    if (!statement.parseSent) {
      statement.parseSent = true;
      this.owner.counted('prepared');
      return true;
    }
    const name = statement.name;
    const parsed = connection.parsedStatements!;
    const submitted = connection.submittedNamedStatements;
    // pg >= 8.23.1 records the Parse it writes; older ones only at ParseComplete.
    if (parsed[name] === undefined && (submitted === undefined || submitted[name] === undefined)) {
      (submitted ?? parsed)[name] = statement.text;
    }
    this.owner.counted('hit');
    return false;
  }

  /** Whether pg saw the server's ParseComplete for `name` on this connection. */
  parsed(name: string): boolean {
    return this.#client.connection?.parsedStatements?.[name] !== undefined;
  }

  /**
   * `statement` no longer has its name on the server, or must not be trusted to: the next send
   * parses it afresh under a new name, and the old one is closed (a Close of a statement that
   * does not exist is no error).
   */
  retire(statement: Statement): void {
    if (statement.name === '') return;
    this.#drop(statement.name, statement.parseSent);
    statement.rename(this.#nextName(statement));
  }

  /** Every statement goes (the session lost them, or cannot be trusted to keep them). */
  forgetAll(): void {
    for (const statement of this.#statements.values()) {
      this.#drop(statement.name, statement.parseSent);
      statement.name = '';
    }
    this.#statements.clear();
  }

  /** pg's record was replaced (forgetPreparedStatements, after lifeguard's DEALLOCATE ALL). */
  #forgotten(): void {
    this.#parsed = this.#client.connection?.parsedStatements;
    for (const statement of this.#statements.values()) statement.name = '';
    this.#statements.clear();
    this.#closes = [];
  }

  #drop(name: string, parseSent: boolean): void {
    const connection = this.#client.connection;
    if (connection?.parsedStatements !== undefined) delete connection.parsedStatements[name];
    if (connection?.submittedNamedStatements !== undefined) {
      delete connection.submittedNamedStatements[name];
    }
    if (parseSent) this.#closes.push(name);
  }

  /** CLOCK: the oldest statement not referenced since the hand last passed it goes. */
  #evictOne(): void {
    const statements = this.#statements;
    for (;;) {
      const oldest = statements.values().next().value;
      if (oldest === undefined) return;
      statements.delete(oldest.text);
      if (oldest.referenced) {
        oldest.referenced = false;
        statements.set(oldest.text, oldest);
        continue;
      }
      this.#drop(oldest.name, oldest.parseSent);
      oldest.name = '';
      this.owner.counted('evicted');
      return;
    }
  }

  /**
   * Close 'S' for each dropped statement, written right before the query being sent, so that
   * it travels in that query's Sync group: processed in order after every query written
   * before it (which may still use the name), answered by a CloseComplete pg ignores. Only
   * when pg writes at once (pipeline mode, or idle with nothing queued); else they wait.
   */
  #writeCloses(): void {
    const client = this.#client;
    const idle = client.readyForQuery === true && (client._queryQueue?.length ?? 0) === 0;
    const connection = client.connection!;
    if ((client.pipeline !== true && !idle) || typeof connection.close !== 'function') return;
    const closes = this.#closes;
    this.#closes = [];
    const stream = connection.stream;
    stream?.cork?.();
    try {
      for (const name of closes) connection.close({ type: 'S', name });
    } finally {
      stream?.uncork?.();
    }
  }

  #nextName(statement: Statement): string {
    return `lg_${statement.hash}_${(this.#counter++).toString(36)}`;
  }
}

/** 128 bits of SHA-256 in hex: 32 characters, well inside PostgreSQL's 63 for a name. */
function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}
