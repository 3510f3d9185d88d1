/**
 * Shared bits of the handler tests: real servers on port 0, targets backed by real pools (a
 * core pool over an in-memory factory, a lifeguard/pg pool pointed at a closed port), and
 * every pool and server closed after each test.
 */
import type { Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';

import { afterEach } from 'vitest';

import { checkHealth, Pool as CorePool, type HealthReport } from '../../src/core/index.js';
import type { HealthTarget } from '../../src/health/index.js';
import { Pool as PgPool } from '../../src/pg/index.js';

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** A healthy core pool over an in-memory resource, as a target. */
export function healthyTarget(name = 'memory'): HealthTarget & { pool: CorePool<object> } {
  const pool = new CorePool({ create: () => Promise.resolve({}), destroy: () => {} }, { name });
  cleanups.push(() => pool.end());
  return { pool, health: () => checkHealth(pool, () => true) };
}

/** A core pool whose factory always fails: the circuit opens at the first failure. */
export function failingTarget(): HealthTarget {
  const pool = new CorePool(
    {
      create: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')),
      destroy: () => {},
    },
    { name: 'broken', circuitBreakerThreshold: 1 },
  );
  cleanups.push(() => pool.end());
  return { health: () => checkHealth(pool, () => true) };
}

/** A lifeguard/pg pool, password included, pointed at a port where nothing listens. */
export async function deadPgTarget(): Promise<HealthTarget> {
  const port = await closedPort();
  const pool = new PgPool({
    connectionString: `postgres://app:hunter2@127.0.0.1:${port}/app`,
    name: 'pg-dead',
    circuitBreakerThreshold: 1,
  });
  cleanups.push(() => pool.end());
  // The pool itself is the target: its health() is what the handlers are documented with.
  return { health: () => pool.health({ timeoutMillis: 2_000 }) };
}

/** A target whose health() fails in a way lifeguard's checks never do. */
export function throwingTarget(error: unknown): HealthTarget {
  return { health: () => Promise.reject(error) };
}

/** A port that was free a moment ago and has nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts an http.Server (node:http or Express's) on port 0; closed after the test. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Registers an extra cleanup (a Fastify instance). */
export function onCleanup(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: HealthReport & { error?: { code: string; message: string } };
}

/** One request with Node's fetch; a JSON body parsed (none comes back for HEAD). */
export async function request(url: string, method = 'GET'): Promise<Answer> {
  const response = await fetch(url, { method });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json:
      text !== '' && response.headers.get('content-type')?.startsWith('application/json')
        ? JSON.parse(text)
        : undefined,
  };
}
