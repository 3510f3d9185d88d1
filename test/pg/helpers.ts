/**
 * Shared bits of the lifeguard/pg tests: pools that are always ended, an admin connection for
 * pg_terminate_backend, and small waits on events (never on the clock).
 */
import { once } from 'node:events';

import pg from 'pg';
import { afterEach, inject } from 'vitest';

import { Pool, type PoolConfig } from '../../src/pg/index.js';

export const databaseUrl = inject('databaseUrl');

const pools = new Set<Pool>();
const admins = new Set<pg.Client>();

/** A pool on the shared database (or `url`), ended after the test. */
export function createPool(config: PoolConfig = {}, url: string = databaseUrl): Pool {
  const pool = new Pool({ connectionString: url, endTimeoutMillis: 2_000, ...config });
  pools.add(pool);
  return pool;
}

/** A plain pg.Client outside any pool, for looking at or killing the pool's sessions. */
export async function adminClient(url: string = databaseUrl): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  admins.add(client);
  await client.connect();
  return client;
}

afterEach(async () => {
  // Some tests end their pools themselves; a second end() is an error, as with pg.Pool.
  await Promise.all([...pools].filter((pool) => !pool.ending).map((pool) => pool.end()));
  pools.clear();
  await Promise.all([...admins].map((client) => client.end().catch(() => undefined)));
  admins.clear();
});

/** The server process id behind a pooled client. */
export async function backendPid(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

/** Kills a session from the outside, as an administrator or a restart would. */
export async function terminate(pid: number, url: string = databaseUrl): Promise<void> {
  const admin = await adminClient(url);
  const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [
    pid,
  ]);
  if (rows[0]?.ok !== true) throw new Error(`could not terminate backend ${pid}`);
}

/** Resolves once the backend has really gone (pg_terminate_backend only sends a signal). */
export async function waitForBackendGone(pid: number, url: string = databaseUrl): Promise<void> {
  const admin = await adminClient(url);
  for (;;) {
    const { rows } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (rows.length === 0) return;
    await sleep(10);
  }
}

/** Resolves with the arguments of the next `event`. */
export function nextEvent<T extends unknown[]>(
  emitter: NodeJS.EventEmitter,
  event: string,
): Promise<T> {
  return once(emitter, event) as Promise<T>;
}

/** Polls `condition` every few ms; for state that has no event (server-side views). */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/**
 * Resolves once a statement with exactly this text is running on the server: written, not
 * merely dispatched (a pipelined lane sends its writes at the end of the current tick).
 */
export async function untilRunning(text: string, url: string = databaseUrl): Promise<void> {
  const admin = await adminClient(url);
  await until(async () => {
    const { rowCount } = await admin.query(
      "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query = $1",
      [text],
    );
    return (rowCount ?? 0) > 0;
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A unique table name per test, so files and tests never see each other's rows. */
export function tableName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** The error and every `cause` below it, outermost first. */
export function chain(error: unknown): unknown[] {
  const errors: unknown[] = [];
  for (let e = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    errors.push(e);
    if (errors.length > 20) break; // a cause cycle
  }
  return errors;
}
