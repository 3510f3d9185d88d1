/**
 * Connections that die while idle are never handed out: they are found by an event, by a
 * check on checkout, or by validation after sitting idle, and the caller gets a live one.
 */
import type pg from 'pg';
import { describe, expect, it, vi } from 'vitest';

import { PgConnectionLostError } from '../../src/pg/index.js';
import { backendPid, createPool, nextEvent, sleep, terminate } from './helpers.js';

/** Checks a client out and back in, returning it and its backend pid. */
async function idleClient(pool: ReturnType<typeof createPool>) {
  const client = await pool.connect();
  const pid = await backendPid(client);
  client.release();
  return { client, pid };
}

/**
 * The next `event` from the pool. Unlike events.once (nextEvent), it adds no 'error' listener:
 * these tests need the pool's 'error' to go unheard, or to be heard only by their own listener.
 */
function next(pool: ReturnType<typeof createPool>, event: 'connect' | 'remove') {
  return new Promise<pg.PoolClient>((resolve) => pool.once(event, resolve));
}

/** The backend pid pg learnt at connect time (BackendKeyData): no query needed. */
function processId(client: pg.PoolClient): number {
  return (client as unknown as { processID: number }).processID;
}

/** Makes the socket under `client` fail its next write as a reset connection does. */
function failNextWrite(client: pg.PoolClient): void {
  const stream = (
    client as unknown as {
      connection: { stream: { write(): boolean; destroy(e: Error): void } };
    }
  ).connection.stream;
  stream.write = (): boolean => {
    const error = Object.assign(new Error('write EPIPE'), {
      code: 'EPIPE',
      errno: -32,
      syscall: 'write',
    });
    stream.destroy(error);
    return false;
  };
}

describe('idle errors', () => {
  it("emits 'error' with the client when an idle connection is terminated, and carries on", async () => {
    const pool = createPool({ max: 2 });
    const { client, pid } = await idleClient(pool);
    const event = nextEvent<[Error & { code?: string }, pg.PoolClient]>(pool, 'error');
    await terminate(pid);
    const [error, errored] = await event;
    expect(errored).toBe(client);
    expect(error.code).toBe('57P01'); // admin_shutdown, with the SQLSTATE kept
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(rows[0]?.pid).not.toBe(pid);
    expect(pool.totalCount).toBe(1);
  });

  it("does not crash the process when nobody listens for 'error'", async () => {
    const pool = createPool({ max: 1 });
    const { client, pid } = await idleClient(pool);
    expect(pool.listenerCount('error')).toBe(0);
    const clientError = nextEvent<[Error & { code?: string }]>(client, 'error');
    await terminate(pid);
    // A pool that threw from its listener would have cut the first emit short: this listener
    // would only see pg's second report ('Connection terminated unexpectedly').
    const [first] = await clientError;
    expect(first.code).toBe('57P01');
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('removes a terminated idle connection at once and refills min with a new backend, without a query', async () => {
    // The reaper (which also tops up `min`) is pushed out of the picture: only the eviction
    // can bring the count back.
    const pool = createPool({ min: 2, max: 4, warmMin: true, reapIntervalMillis: 60_000 });
    const created: pg.PoolClient[] = [];
    pool.on('connect', (client: pg.PoolClient) => created.push(client));
    let acquires = 0;
    pool.on('acquire', () => acquires++);
    while (created.length < 2) await next(pool, 'connect');
    expect(pool.totalCount).toBe(2);
    expect(pool.idleCount).toBe(2);
    const pids = created.map(processId);
    const victim = created[0]!;

    // 'remove' comes once the client has ended (as with pg.Pool), by which time its
    // replacement may already be opening: the destroy is what is counted at that moment.
    const removed = new Promise<number>((resolve) => {
      pool.once('remove', (client: pg.PoolClient) => {
        expect(client).toBe(victim);
        resolve(pool.stats().destroys.error);
      });
    });
    const replaced = next(pool, 'connect');
    await terminate(pids[0]!);

    expect(await removed).toBe(1);
    const fresh = await replaced;
    expect(pids).not.toContain(processId(fresh));
    expect(pool.totalCount).toBe(2);
    expect(pool.idleCount).toBe(2);
    expect(pool.stats().destroys.error).toBe(1);
    expect(acquires).toBe(0); // nothing was checked out, no query ran
  }, 10_000);

  it("emits 'error' with the client already out of the counts, then 'remove' once", async () => {
    const pool = createPool({ max: 2 });
    const { client, pid } = await idleClient(pool);
    const order: string[] = [];
    const removedClients: pg.PoolClient[] = [];
    pool.on('remove', (removed: pg.PoolClient) => {
      removedClients.push(removed);
      order.push('remove');
    });
    const errored = new Promise<number>((resolve) => {
      pool.on('error', () => {
        order.push('error');
        resolve(pool.totalCount);
      });
    });
    await terminate(pid);
    expect(await errored).toBe(0);
    // A checkout afterwards must not find (and remove) it a second time.
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(rows[0]?.pid).not.toBe(pid);
    // pg.Pool's order: 'error' at once, 'remove' when the client has ended.
    expect(order).toEqual(['error', 'remove']);
    expect(removedClients).toEqual([client]);
    expect(pool.totalCount).toBe(1);
  }, 10_000);

  it("replaces a terminated idle connection when nobody listens for 'error'", async () => {
    const pool = createPool({ min: 1, max: 2, warmMin: true, reapIntervalMillis: 60_000 });
    const first = await next(pool, 'connect');
    const removed = next(pool, 'remove');
    const replaced = next(pool, 'connect');
    expect(pool.listenerCount('error')).toBe(0);
    await terminate(processId(first));
    expect(await removed).toBe(first);
    const fresh = await replaced;
    expect(processId(fresh)).not.toBe(processId(first));
    expect(pool.totalCount).toBe(1);
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  }, 10_000);

  it('never hands out a connection whose socket died before any event was processed', async () => {
    const pool = createPool({ max: 1 });
    const { client, pid } = await idleClient(pool);
    const removed = nextEvent<[pg.PoolClient]>(pool, 'remove');
    // Synchronously destroyed: no 'error' or 'close' has been delivered yet.
    (
      client as unknown as { connection: { stream: { destroy(): void } } }
    ).connection.stream.destroy();
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(rows[0]?.pid).not.toBe(pid);
    expect((await removed)[0]).toBe(client);
  });
});

describe('dead-connection retry', () => {
  it('retries a query once, transparently, when the write proves it was never sent', async () => {
    const pool = createPool({ max: 2 });
    const { client, pid } = await idleClient(pool);
    failNextWrite(client);
    let acquires = 0;
    pool.on('acquire', () => acquires++);
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(rows[0]?.pid).not.toBe(pid);
    expect(acquires).toBe(2);
  });

  it('fails with mayHaveRun: false when the retry also could not send', async () => {
    const pool = createPool({ max: 2 });
    const a = await pool.connect();
    const b = await pool.connect();
    a.release();
    b.release();
    failNextWrite(a);
    failNextWrite(b);
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect(error).toMatchObject({
      code: 'ERR_PG_CONNECTION_LOST',
      mayHaveRun: false,
      retryable: true,
      errno: 'EPIPE',
    });
    expect((error as Error).cause).toMatchObject({ code: 'EPIPE' });
  });
});

describe('validation', () => {
  it('validates a connection idle past validateAfterIdleMillis, and not one used just now', async () => {
    const pool = createPool({ max: 1, validateAfterIdleMillis: 100 });
    const { client } = await idleClient(pool);
    const spy = vi.spyOn(client, 'query');
    const validations = () => spy.mock.calls.filter(([text]) => text === '').length;

    await pool.query('SELECT 1');
    expect(validations()).toBe(0);

    await sleep(150); // the idle window itself is what is under test
    await pool.query('SELECT 1');
    expect(validations()).toBe(1);
  });

  it('replaces a connection that fails validation without handing it out', async () => {
    const pool = createPool({ max: 1, validateAfterIdleMillis: 0 });
    const { client, pid } = await idleClient(pool);
    // Break it without pg noticing: the server end goes away, the client sees nothing yet.
    const stream = (client as unknown as { connection: { stream: { end(): void } } }).connection
      .stream;
    stream.end();
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(rows[0]?.pid).not.toBe(pid);
    expect(pool.stats().destroys.validation + pool.stats().destroys.error).toBe(1);
  });
});
