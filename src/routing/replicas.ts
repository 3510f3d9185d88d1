import type pg from 'pg';

import { Pool, type TransactionClient, type TransactionOptions } from '../pg/index.js';
import { callBackQuery, isSubmittable, usedAfterEnd, type QueryCallback } from '../pg/internal.js';
import { isReadOnlySql } from './replicas-classify.js';
import { checkedSettings, memberConfigs, type ReplicaRouterConfig } from './replicas-config.js';
import { ConsistencyScopes, tokenOf } from './replicas-consistency.js';
import { isReadOnlyRefusal } from './replicas-failures.js';
import { parseLsn } from './replicas-lsn.js';
import { Member, type ReplicaStats } from './replicas-member.js';
import { LagMonitor } from './replicas-monitor.js';
import { ReadPath } from './replicas-reads.js';
import { detectPrimary } from './replicas-roles.js';
import type { ReplicaSettings } from './replicas-config.js';
import { PoolRouter, type Routed, type RouterStats } from './router.js';

/**
 * Per-call routing, in a query config or transaction options: `replica: true` lets a read go
 * to a replica (`false` keeps it on the primary when the router's `reads` is `'replica'`);
 * `after` is a read-your-writes token (`router.lastWriteToken()`) the replica must have
 * replayed.
 */
export interface ReplicaOption {
  replica?: boolean;
  after?: string;
}

/** `stats()` of a replica router: which member is the primary, and each replica's state. */
export interface ReplicaRouterStats extends RouterStats {
  readonly primary: string;
  readonly replicas: Readonly<Record<string, ReplicaStats>>;
}

/** When recording a write's position fails: no replica can prove it has the write. */
const kUnknownPosition = 2n ** 64n - 1n;

/**
 * A primary and its streaming replicas behind one pg.Pool-shaped front. Writes, `connect()`,
 * read-write transactions and anything the classifier cannot prove read-only go to the
 * primary; reads go to a replica only when the call (or the router's `reads`) opts in, and
 * only to a replica that is in recovery, within the lag limits, and (with a read-your-writes
 * token) has replayed the caller's last write. See docs/routing.md, "Read replicas".
 *
 * @example
 * const db = createReplicaRouter({
 *   primary: process.env.PRIMARY_URL!,
 *   replicas: [process.env.REPLICA_URL!],
 *   maxLagMillis: 5_000,
 * });
 * await db.query('INSERT INTO t VALUES ($1)', [1]);                  // primary
 * await db.query({ text: 'SELECT * FROM t', replica: true });        // a replica
 * await db.withConsistency(async () => {
 *   await db.query('INSERT INTO t VALUES ($1)', [2]);
 *   await db.query({ text: 'SELECT * FROM t', replica: true });      // sees the row
 * });
 */
export function createReplicaRouter(config: ReplicaRouterConfig): ReplicaRouter {
  return new ReplicaRouter(config);
}

export class ReplicaRouter extends PoolRouter<ReplicaOption> {
  readonly #settings: ReplicaSettings;
  readonly #all: Member[] = [];
  readonly #pools = new Map<string, Pool>();
  readonly #scopes = new ConsistencyScopes();
  readonly #monitor: LagMonitor;
  readonly #reads: ReadPath;
  #primary: Member;
  #redetecting: Promise<boolean> | undefined;

  constructor(config: ReplicaRouterConfig) {
    const settings = checkedSettings(config);
    const { budget, members } = memberConfigs(config, settings.name);
    super(settings.name, budget);
    this.#settings = settings;
    for (const [name, poolConfig] of members) {
      const pool = new Pool(poolConfig);
      this.#pools.set(name, pool);
      this.#all.push(new Member(name, pool));
    }
    this.#primary = this.#all[0]!;
    const host = {
      name: settings.name,
      primary: () => this.#primary,
      replicas: () => this.#replicas(),
      suspect: (member: Member) => this.#monitor.suspect(member),
      redetectRoles: () => this.redetectRoles(),
    };
    const random = Math.random;
    this.#monitor = new LagMonitor(host, {
      intervalMillis: settings.monitorIntervalMillis,
      limits: { maxLagMillis: settings.maxLagMillis, maxLagBytes: settings.maxLagBytes },
      random,
    });
    this.#reads = new ReadPath(host, { ...settings, random });
    this.#monitor.start();
  }

  override members(): ReadonlyMap<string, Pool> {
    return this.#pools;
  }

  /** The primary's pool now (it changes after a failover). */
  primary(): Pool {
    return this.#primary.pool;
  }

  /**
   * A replica's pool for reads the caller runs itself (several statements on one `connect()`,
   * cursors): one usable replica that has replayed the current `withConsistency` scope's
   * writes, else the primary (or `ERR_ROUTING_NO_REPLICA` with `fallback: 'fail'` when no
   * replica is usable). No classifier, retry or token wait applies to what runs on it.
   */
  replica(): Pool {
    return this.#reads.choose(this.#scopes.token()).pool;
  }

  /**
   * Runs `fn` in a read-your-writes scope: each write in it records the primary's WAL
   * position, and each read in it goes only where that position has been replayed (or waits
   * up to `tokenWaitMillis` for a replica, then reads from the primary). `after`: start from a
   * token received from elsewhere (another service's `lastWriteToken()`).
   */
  withConsistency<R>(fn: () => R, after?: string): R {
    return this.#scopes.run(fn, after);
  }

  /** The current scope's last write position, to pass by hand as `{ after }`; else undefined. */
  lastWriteToken(): string | undefined {
    return this.#scopes.tokenText();
  }

  /**
   * Asks every member whether it is in recovery and makes the one that is not the primary
   * (the router does this itself after a 25006 or when the monitor sees a promotion).
   * Resolves `true` when the primary changed. Concurrent calls share one round.
   */
  redetectRoles(): Promise<boolean> {
    this.#redetecting ??= this.#redetect().finally(() => {
      this.#redetecting = undefined;
    });
    return this.#redetecting;
  }

  /** Runs one lag-monitor round now (for tests and operators; the timer runs them anyway). */
  checkReplicas(): Promise<void> {
    return this.#monitor.check();
  }

  override stats(): ReplicaRouterStats {
    const replicas: Record<string, ReplicaStats> = {};
    for (const member of this.#replicas()) replicas[member.name] = member.stats();
    return { ...super.stats(), primary: this.#primary.name, replicas };
  }

  override transaction<R>(
    fn: (client: TransactionClient) => Promise<R> | R,
    options?: TransactionOptions & ReplicaOption,
  ): Promise<R> {
    if (this.ending) return Promise.reject(usedAfterEnd());
    try {
      const { replica, after, ...rest } = options ?? {};
      const token = tokenOf(after, this.#scopes.token());
      const run = (pool: Pool): Promise<R> => pool.transaction(fn, rest);
      if (rest.readOnly !== true) return this.#write(run, false);
      if (!(replica ?? this.#settings.reads === 'replica')) return run(this.#primary.pool);
      return this.#reads.run(token, run, false);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // --- routing --------------------------------------------------------------------------------

  protected override dispatchQuery(text: unknown, rest: unknown[]): unknown {
    if (typeof text !== 'string' && (typeof text !== 'object' || text === null)) {
      return super.dispatchQuery(text, rest); // pool.query's own refusals
    }
    if (isSubmittable(text)) return super.dispatchQuery(text, rest);
    const callback = rest.find((arg) => typeof arg === 'function') as
      QueryCallback<pg.QueryResult> | undefined;
    const values = typeof rest[0] === 'function' ? undefined : rest[0];
    let result: Promise<pg.QueryResult>;
    try {
      result = this.#query(text as string | (pg.QueryConfig & ReplicaOption), values);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (callback === undefined) return result;
    callBackQuery(result, callback);
    return undefined;
  }

  /** Submittables (cursors, streams) hold a connection: no retry; a replica only if hinted. */
  protected override routeQuery(query: unknown): Routed<unknown> {
    const { text, replica } = query as { text?: unknown; replica?: boolean };
    const wanted = replica ?? this.#settings.reads === 'replica';
    if (isSubmittable(query) && wanted && typeof text === 'string' && isReadOnlySql(text)) {
      return { pool: this.#reads.choose(this.#scopes.token()).pool, query };
    }
    return { pool: this.#primary.pool, query };
  }

  protected override routeConnect(): Pool {
    return this.#primary.pool;
  }

  protected override routeTransaction(
    options: (TransactionOptions & ReplicaOption) | undefined,
  ): Routed<TransactionOptions | undefined> {
    const { replica: _replica, after: _after, ...rest } = options ?? {};
    return { pool: this.#primary.pool, query: rest };
  }

  /** Only the primary is required: a replica down leaves the router degraded, not down. */
  protected override healthWeights(): ReadonlySet<string> {
    return new Set([this.#primary.name]);
  }

  protected override async shutdown(): Promise<void> {
    await this.#monitor.stop();
    await super.shutdown();
  }

  // --- internals ------------------------------------------------------------------------------

  #replicas(): Member[] {
    return this.#all.filter((member) => member !== this.#primary);
  }

  #query(
    text: string | (pg.QueryConfig & ReplicaOption),
    values: unknown,
  ): Promise<pg.QueryResult> {
    let query: string | pg.QueryConfig = text;
    let hints: ReplicaOption = {};
    if (typeof text === 'object' && ('replica' in text || 'after' in text)) {
      const { replica, after, ...rest } = text;
      query = rest;
      hints = { ...(replica !== undefined && { replica }), ...(after !== undefined && { after }) };
    }
    const token = tokenOf(hints.after, this.#scopes.token()); // a bad token fails anywhere
    const sql = typeof query === 'string' ? query : query.text;
    const exec = (pool: Pool): Promise<pg.QueryResult> =>
      pool.query(query as pg.QueryConfig, values as unknown[] | undefined);
    if (typeof sql !== 'string' || !isReadOnlySql(sql)) return this.#write(exec, true);
    if (!(hints.replica ?? this.#settings.reads === 'replica')) return exec(this.#primary.pool);
    return this.#reads.run(token, exec, true);
  }

  /**
   * A write on the primary. A 25006 means the primary we know is in recovery now: roles are
   * re-detected and, when `retry` and the primary changed, the write runs once on the new
   * one (nothing ran on the old). Inside a `withConsistency` scope, its position is recorded.
   */
  async #write<R>(exec: (pool: Pool) => Promise<R>, retry: boolean): Promise<R> {
    const used = this.#primary;
    let result: R;
    try {
      result = await exec(used.pool);
    } catch (error) {
      if (!isReadOnlyRefusal(error)) throw error;
      await this.redetectRoles();
      if (!retry || this.#primary === used) throw error;
      result = await exec(this.#primary.pool);
    }
    await this.#recordWrite();
    return result;
  }

  /**
   * The insert position, not `pg_current_wal_lsn()` (the write position): with
   * `synchronous_commit = off` the commit is acknowledged before its WAL is written, so the
   * write position may still be before it.
   */
  async #recordWrite(): Promise<void> {
    if (!this.#scopes.active()) return;
    try {
      const { rows } = await this.#primary.pool.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      this.#scopes.record(parseLsn(rows[0]?.lsn) ?? kUnknownPosition);
    } catch {
      this.#scopes.record(kUnknownPosition); // the scope's reads go to the primary
    }
  }

  async #redetect(): Promise<boolean> {
    const timeout = Math.max(1_000, this.#settings.monitorIntervalMillis);
    const next = await detectPrimary(this.#all, this.#primary, timeout);
    if (next === undefined || next === this.#primary) return false;
    const previous = this.#primary;
    this.#primary = next;
    // The old primary is a replica now, if it is anything: out until the monitor checks it.
    this.#monitor.suspect(previous);
    this.emit('primary', next.pool, { member: next.name, previous: previous.name });
    return true;
  }
}
