/**
 * `pool.health()` for lifeguard/pg: the core's health check (src/core/health.ts) with
 * `SELECT 1` as the probe.
 *
 * The connection comes from `pool.connect()`, the path every exclusive caller takes: a
 * connection found dead on checkout is replaced there, and pipeline lanes give a connection
 * back when the check has to wait, so a check under pipelined load waits for a lane to empty,
 * not for the lane's 30 s lifetime. `connect()` cannot be cancelled, so when the deadline passes
 * while it waits, the core parks it: the next check waits for that same acquire rather than
 * queueing another, and a connection that arrives with no check waiting goes straight back.
 *
 * A probe that fails or does not answer within `timeoutMillis` (a black-holed network, a server
 * that stopped answering) releases its client with the error, so the pool destroys that
 * connection (its socket is closed, then destroyed after a grace period) instead of handing it
 * to the next caller. The hung query then fails on the closed socket and is ignored.
 *
 * Only the pool's public surface is used (`connect()`, `stats()`, `waitingCount`, `name`), so
 * this works on any lifeguard/pg pool, and `Pool#health` is one line. That surface is described
 * here (`CheckedPool`) rather than imported from pool.ts, which imports this file.
 */
import type pg from 'pg';

import {
  HealthChecker,
  type HealthCheckOptions,
  type HealthReport,
  type PoolStats,
} from '../core/index.js';

/** Options of `pool.health()`: see `HealthCheckOptions` (timeout 5 s by default). */
export type PgHealthOptions = HealthCheckOptions;

/** What the check uses of a lifeguard/pg `Pool`. */
export interface CheckedPool {
  readonly name: string;
  readonly waitingCount: number;
  stats(): PoolStats;
  connect(): Promise<pg.PoolClient>;
}

const checkers = new WeakMap<CheckedPool, HealthChecker<pg.PoolClient>>();

/**
 * Runs `SELECT 1` on a pooled connection and reports `ok`, `degraded` or `down` with the
 * latency, the pool's stats and the circuit state (docs/health.md). Never rejects (except for
 * invalid options); answers within `timeoutMillis`. Concurrent calls share one check.
 *
 * @example
 * const report = await checkPgHealth(pool, { timeoutMillis: 2_000 });
 * res.writeHead(report.status === 'down' ? 503 : 200).end(JSON.stringify(report));
 */
export function checkPgHealth(pool: CheckedPool, options?: PgHealthOptions): Promise<HealthReport> {
  let checker = checkers.get(pool);
  if (checker === undefined) {
    checker = new HealthChecker<pg.PoolClient>({
      name: pool.name,
      stats: () => pool.stats(),
      acquire: () => pool.connect(),
      // release(err) destroys the connection; release() runs the usual release guard.
      release: (client, error) =>
        client.release(error === undefined ? undefined : error instanceof Error ? error : true),
      // Queries queued for a pipeline lane wait too, as pg.Pool's waitingCount counts them.
      waiting: () => pool.waitingCount,
    });
    checkers.set(pool, checker);
  }
  return checker.check(selectOne, options);
}

/** The trivial query. One row back means the server parsed, planned and answered. */
async function selectOne(client: pg.PoolClient): Promise<boolean> {
  const result = await client.query('SELECT 1');
  return result.rows.length === 1;
}
