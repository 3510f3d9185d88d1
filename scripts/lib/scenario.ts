/**
 * The scenario of `npm start`, from the seed document (section 1, and the Express examples of
 * section 5): an API whose every request needs the database, hit by a burst of concurrent
 * requests. Each request is `POST /users/:id/events`: read the user by primary key, then record
 * an event for them, as an Express handler using `pool.query()` twice would.
 *
 * Everything lives in its own schema, so that pointing DATABASE_URL at a real database cannot
 * touch its tables; the schema is dropped at the end.
 */
import pg from 'pg';

import { ErrorTally, LatencyLog, type LatencySummary } from './report.js';

export const SCHEMA = 'lifeguard_demo';

const SELECT_USER = `SELECT id, name, email, plan FROM ${SCHEMA}.users WHERE id = $1`;
const INSERT_EVENT =
  `INSERT INTO ${SCHEMA}.events (user_id, kind, path, payload) ` +
  'VALUES ($1, $2, $3, $4) RETURNING id';

/** What both pg.Client and a pg.Pool-compatible pool offer. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Creates the schema with `users` rows and an empty `events` table (dropping leftovers). */
export async function createSchema(db: Queryable, users: number): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await db.query(`CREATE SCHEMA ${SCHEMA}`);
  await db.query(
    `CREATE TABLE ${SCHEMA}.users (
       id         int PRIMARY KEY,
       name       text NOT NULL,
       email      text NOT NULL UNIQUE,
       plan       text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  await db.query(
    `CREATE TABLE ${SCHEMA}.events (
       id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       user_id    int NOT NULL REFERENCES ${SCHEMA}.users (id),
       kind       text NOT NULL,
       path       text NOT NULL,
       payload    jsonb NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  await db.query(`CREATE INDEX events_user_id ON ${SCHEMA}.events (user_id, created_at)`);
  await db.query(
    `INSERT INTO ${SCHEMA}.users (id, name, email, plan)
     SELECT i, 'user ' || i, 'user' || i || '@example.com',
            (ARRAY['free', 'pro', 'team'])[1 + i % 3]
       FROM generate_series(1, $1::int) AS i`,
    [users],
  );
  await db.query(`ANALYZE ${SCHEMA}.users`);
}

export async function dropSchema(db: Queryable): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
}

export async function countEvents(db: Queryable): Promise<number> {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.events`);
  return (rows[0] as { n: number } | undefined)?.n ?? 0;
}

/** The handler body of `POST /users/:id/events`, on whatever `db` the request was given. */
export async function handleRequest(db: Queryable, userId: number, request: number): Promise<void> {
  const { rows } = await db.query(SELECT_USER, [userId]);
  const user = rows[0] as { id: number; plan: string } | undefined;
  if (user === undefined) throw new Error(`user ${userId} not found`);
  await db.query(INSERT_EVENT, [
    user.id,
    'page_view',
    '/dashboard',
    JSON.stringify({ request, plan: user.plan, at: Date.now() }),
  ]);
}

/** Serves one request given the user id and the request's number. */
export type Handler = (userId: number, request: number) => Promise<void>;

/**
 * The anti-pattern: every request opens its own connection (TCP, startup, SCRAM
 * authentication, a new server process), runs its two statements and closes it.
 */
export function connectionPerRequest(url: string, applicationName: string): Handler {
  return async (userId, request) => {
    const client = new pg.Client({ connectionString: url, application_name: applicationName });
    // A socket error also fails the pending connect() or query(), which is where we count it.
    client.on('error', () => {});
    try {
      await client.connect();
      await handleRequest(client, userId, request);
    } finally {
      await client.end().catch(() => {});
    }
  };
}

/** The fix: every request borrows from one pool, through `pool.query()`. */
export function pooled(pool: Queryable): Handler {
  return (userId, request) => handleRequest(pool, userId, request);
}

export interface BurstOptions {
  requests: number;
  concurrency: number;
  /** Users to pick from (ids 1..users), uniformly at random. */
  users: number;
  handler: Handler;
  /** For redacting error messages. */
  url: string;
  /** Stops issuing new requests (in-flight ones finish). */
  signal?: AbortSignal;
}

export interface BurstResult {
  ok: number;
  failed: number;
  elapsedMillis: number;
  /** Successful requests per second of wall time. */
  throughput: number;
  /** Latency of successful requests, in ms, from arrival to response. */
  latency: LatencySummary;
  errors: ErrorTally;
}

/**
 * `requests` requests, `concurrency` of them in flight at any time: each of `concurrency`
 * virtual clients sends its next request as soon as the previous one is answered.
 */
export async function runBurst(options: BurstOptions): Promise<BurstResult> {
  const { requests, concurrency, users, handler, signal } = options;
  const latency = new LatencyLog();
  const errors = new ErrorTally(options.url);
  let issued = 0;
  let ok = 0;

  const client = async (): Promise<void> => {
    while (issued < requests && signal?.aborted !== true) {
      const request = ++issued;
      const userId = 1 + Math.floor(Math.random() * users);
      const start = performance.now();
      try {
        await handler(userId, request);
        latency.record(performance.now() - start);
        ok++;
      } catch (error) {
        errors.add(error);
      }
    }
  };

  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, client));
  const elapsedMillis = performance.now() - start;
  return {
    ok,
    failed: errors.total,
    elapsedMillis,
    throughput: (ok * 1000) / elapsedMillis,
    latency: latency.summary(),
    errors,
  };
}
