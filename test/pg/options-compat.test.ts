/**
 * Options and events of pg.Pool that lifeguard/pg honours as pg.Pool does: `verify`, `log`, a
 * `Client` whose `connect` takes a callback, pg's own `pipeline` option (next to lifeguard's
 * `pipelineQueries`), unknown keys (a warning, never a throw) and `err.client` on an idle
 * client's error.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';

import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { Pool } from '../../src/pg/index.js';
import {
  backendPid,
  chain,
  createPool,
  nextEvent,
  terminate,
  until,
  waitForBackendGone,
} from './helpers.js';

type Messages = unknown[][];

function recordLog(): { messages: Messages; log: (...messages: unknown[]) => void } {
  const messages: Messages = [];
  return { messages, log: (...m: unknown[]) => messages.push(m) };
}

function texts(messages: Messages): unknown[] {
  return messages.map((m) => m[0]);
}

/** pg's socket under a client (pg's internals), to see that the pool destroyed it. */
function socketOf(client: pg.ClientBase): { destroyed: boolean } {
  return (client as unknown as { connection: { stream: { destroyed: boolean } } }).connection
    .stream;
}

/** pg's pipeline mode on a client (pg >= 8.23). */
function pipelined(client: pg.ClientBase): boolean {
  return (client as unknown as { pipeline: boolean }).pipeline;
}

describe('verify', () => {
  it('runs once for each new client, after onConnect, before anyone gets it', async () => {
    const order: string[] = [];
    const verified: pg.ClientBase[] = [];
    const pool = createPool({
      max: 2,
      onConnect: () => {
        order.push('onConnect');
      },
      verify: (client, done) => {
        order.push('verify');
        verified.push(client);
        // A connected client: pg.Pool's users run a query here.
        client.query('SELECT 1').then(() => done(), done);
      },
    });
    pool.on('connect', () => order.push('connect'));
    const first = await pool.connect();
    expect(verified).toEqual([first]);
    expect(order).toEqual(['onConnect', 'verify', 'connect']);
    const second = await pool.connect();
    expect(verified).toEqual([first, second]);
    first.release();
    second.release();
    // Reused clients are not verified again.
    const again = await pool.connect();
    expect([first, second]).toContain(again);
    again.release();
    await pool.query('SELECT 1');
    expect(verified).toHaveLength(2);
  });

  it('rejects the client on cb(err): it is closed, the caller gets the error, and the pool recovers', async () => {
    const nope = new Error('nope');
    const rejected: pg.ClientBase[] = [];
    let failures = 1;
    const pool = createPool({
      max: 1,
      circuitBreakerThreshold: 1,
      verify: (client, done) => {
        if (failures-- > 0) {
          rejected.push(client);
          done(nope);
        } else {
          done();
        }
      },
    });
    const error: unknown = await pool.connect().catch((e: unknown) => e);
    expect(chain(error)).toContain(nope);
    expect(rejected).toHaveLength(1);
    const client = rejected[0]!;
    expect(socketOf(client).destroyed).toBe(true);
    await waitForBackendGone((client as unknown as { processID: number }).processID);
    await until(() => pool.totalCount === 0);
    await until(() =>
      pool.query('SELECT 1').then(
        () => true,
        () => false,
      ),
    );
    const next = await pool.connect();
    expect(next).not.toBe(client);
    expect((await next.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    next.release();
  });

  it('treats a verify that throws, or rejects, as cb(err)', async () => {
    const thrown = new Error('thrown');
    const pool = createPool({
      circuitBreakerThreshold: 1,
      verify: () => {
        throw thrown;
      },
    });
    expect(chain(await pool.query('SELECT 1').catch((e: unknown) => e))).toContain(thrown);
    const rejection = new Error('rejected');
    const async = createPool({
      circuitBreakerThreshold: 1,
      // An async verify that fails before it calls back (pg.Pool would wait for ever): the
      // misuse of a promise is the point here.
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      verify: async () => {
        await Promise.resolve();
        throw rejection;
      },
    });
    expect(chain(await async.query('SELECT 1').catch((e: unknown) => e))).toContain(rejection);
  });

  it('is validated: a verify that is not a function throws at construction', () => {
    expect(() => new Pool({ verify: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_INVALID_OPTION', option: 'verify' }),
    );
  });
});

describe('log', () => {
  it("says pg.Pool's lines when connecting, when a client is used up, and when ending", async () => {
    const { messages, log } = recordLog();
    const pool = createPool({ max: 1, maxUses: 1, log });
    const client = await pool.connect();
    expect(texts(messages)).toEqual(['connecting new client', 'new client connected']);
    client.release();
    await until(() => texts(messages).includes('remove expended client'));
    await pool.end();
    expect(texts(messages)).toEqual([
      'connecting new client',
      'new client connected',
      'remove expended client',
      'ending',
    ]);
  });

  it('says "remove idle client" and "remove expired client" when those close a client', async () => {
    const idle = recordLog();
    const idlePool = createPool({ idleTimeoutMillis: 10, reapIntervalMillis: 10, log: idle.log });
    (await idlePool.connect()).release();
    await until(() => texts(idle.messages).includes('remove idle client'));
    expect(texts(idle.messages)).not.toContain('remove expired client');

    const expired = recordLog();
    const expiringPool = createPool({
      maxLifetimeSeconds: 0.05,
      maxLifetimeJitter: 0,
      reapIntervalMillis: 10,
      log: expired.log,
    });
    (await expiringPool.connect()).release();
    await until(() => texts(expired.messages).includes('remove expired client'));
    expect(texts(expired.messages)).not.toContain('remove idle client');
  });

  it('says "client failed to connect" with the error, credentials masked', async () => {
    const secret = 'log-secret-9f2c';
    const { messages, log } = recordLog();
    // Nothing listens on port 1 (privileged, unassigned in practice): connecting is refused.
    const pool = createPool(
      { log, circuitBreakerThreshold: 1 },
      `postgresql://app:${secret}@127.0.0.1:1/app`,
    );
    await pool.query('SELECT 1').catch(() => undefined);
    await until(() => texts(messages).includes('client failed to connect'));
    const [, error] = messages.find((m) => m[0] === 'client failed to connect')!;
    expect(chain(error).some((e) => (e as { code?: unknown }).code === 'ECONNREFUSED')).toBe(true);
    expect(inspect(messages, { depth: 10 })).not.toContain(secret);
  });

  it('costs nothing without a log: no listener on the core pool', () => {
    const without = createPool();
    const withLog = createPool({ log: () => undefined });
    expect(withLog.core.listenerCount('destroy')).toBe(without.core.listenerCount('destroy') + 1);
    expect(withLog.core.listenerCount('error')).toBe(without.core.listenerCount('error') + 1);
  });
});

describe('a custom Client', () => {
  it('whose connect only takes a callback, as pg.Pool allows', async () => {
    class CallbackClient extends pg.Client {
      // @ts-expect-error: narrower than pg.Client's overloads, as such custom classes are
      override connect(callback: (err?: Error) => void): void {
        if (typeof callback !== 'function') throw new TypeError('cb is not a function');
        super.connect().then(() => callback(), callback);
      }
    }
    const pool = createPool({ Client: CallbackClient as never });
    const client = await pool.connect();
    expect(client).toBeInstanceOf(CallbackClient);
    expect((await client.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    client.release();
  });

  it('whose connect calls back and returns a promise settles once, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      class BothClient extends pg.Client {
        // @ts-expect-error: both styles at once, the promise failing after the callback succeeded
        override connect(callback?: (err?: Error) => void): Promise<void> {
          const connected = super.connect();
          void connected.then(() => callback?.(), callback);
          return connected.then(() => Promise.reject(new Error('late rejection')));
        }
      }
      const connects: unknown[] = [];
      const pool = createPool({ Client: BothClient as never });
      pool.on('connect', (c) => connects.push(c));
      const client = await pool.connect();
      expect((await client.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
      client.release();
      expect(connects).toEqual([client]);
      expect(pool.totalCount).toBe(1);
      // An unhandled rejection is reported after the microtask queue drains.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe("pg's own `pipeline` option", () => {
  it('reaches the clients, and lifeguard puts it back after a lane', async () => {
    const pool = createPool({ max: 1, pipeline: true });
    const client = await pool.connect();
    expect(pipelined(client)).toBe(true);
    // pg's pipeline mode on this one client: both queries are written at once.
    const both = await Promise.all([client.query('SELECT 1 AS n'), client.query('SELECT 2 AS n')]);
    expect(both.map((r) => r.rows)).toEqual([[{ n: 1 }], [{ n: 2 }]]);
    client.release();
    // lifeguard's own pipelining of pool.query still works, on the same connection (max 1)...
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.query<{ n: number }>('SELECT $1::int AS n', [i])),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await until(() => pool.idleCount === pool.totalCount);
    // ...and the lane gave it back in pg's configured mode, not switched off.
    const again = await pool.connect();
    expect(again).toBe(client);
    expect(pipelined(again)).toBe(true);
    again.release();
  });

  it('stays off by default, after lanes too', async () => {
    const pool = createPool({ max: 1 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query('SELECT $1::int', [i])));
    await until(() => pool.idleCount === pool.totalCount);
    const client = await pool.connect();
    expect(pipelined(client)).toBe(false);
    client.release();
  });

  it('is independent of pipelineQueries', async () => {
    const pool = createPool({ max: 2, pipeline: true, pipelineQueries: false });
    const client = await pool.connect();
    expect(pipelined(client)).toBe(true);
    client.release();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => pool.query<{ n: number }>('SELECT $1::int AS n', [i])),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(pool.leases()).toEqual([]);
  });
});

describe('unknown options', () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => {
    if ((warning as { code?: unknown }).code === 'LIFEGUARD_UNKNOWN_OPTION') warnings.push(warning);
  };
  process.on('warning', onWarning);
  afterEach(() => {
    warnings.length = 0;
  });
  afterAll(() => {
    process.off('warning', onWarning);
  });

  /** process.emitWarning delivers on a later tick. */
  const delivered = () => new Promise((resolve) => setImmediate(resolve));

  function warningsFor(key: string): Error[] {
    return warnings.filter((w) => w.message.includes(JSON.stringify(key)));
  }

  it('warn once per key per process, with the right name for misnamed ones, and never throw', async () => {
    const config = {
      connectionTimeout: 1_000,
      acquireTimeout: 1_000,
      idleTimeout: 1_000,
      maxLifetimeMillis: 1_000,
      connectionstring: 'x',
      someOrmSetting: true,
    } as never;
    createPool(config);
    createPool(config);
    await delivered();
    const hints: Record<string, string> = {
      connectionTimeout: 'connectionTimeoutMillis',
      acquireTimeout: 'acquireTimeoutMillis',
      idleTimeout: 'idleTimeoutMillis',
      maxLifetimeMillis: 'maxLifetimeSeconds',
      connectionstring: 'connectionString',
    };
    for (const key of Object.keys(config)) {
      const [warning, ...more] = warningsFor(key);
      expect(more).toEqual([]);
      expect(warning).toMatchObject({ name: 'LifeguardWarning' });
      const hint = hints[key];
      if (hint !== undefined) expect(warning!.message).toContain(`did you mean ${hint}`);
      else expect(warning!.message).not.toContain('did you mean');
    }
    expect(warnings).toHaveLength(Object.keys(config).length);
    // The value is never shown: it may be a credential.
    expect(warnings.map((w) => w.message).join('\n')).not.toContain('1000');
  });

  it('are still passed to the Client, as pg.Pool does', async () => {
    const configs: Record<string, unknown>[] = [];
    class RecordingClient extends pg.Client {
      constructor(config: pg.ClientConfig) {
        super(config);
        configs.push(config as Record<string, unknown>);
      }
    }
    const pool = createPool({ Client: RecordingClient, anotherOrmSetting: 42 } as never);
    await pool.query('SELECT 1');
    expect(configs[0]).toMatchObject({ anotherOrmSetting: 42 });
  });

  it('do not include the ordinary keys of pg, pg.Pool and lifeguard', async () => {
    createPool({
      host: 'localhost',
      port: 5432,
      user: 'app',
      password: 'pw',
      database: 'app',
      ssl: false,
      types: pg.types,
      statement_timeout: 1_000,
      query_timeout: 1_000,
      lock_timeout: 1_000,
      idle_in_transaction_session_timeout: 1_000,
      application_name: 'app',
      fallback_application_name: 'app',
      client_encoding: 'UTF8',
      options: '-c search_path=public',
      keepAlive: true,
      keepAliveInitialDelayMillis: 1_000,
      enableChannelBinding: false,
      sslnegotiation: 'postgres',
      pipeline: false,
      Client: pg.Client,
      Promise,
      log: () => undefined,
      verify: (_client, done) => done(),
      onConnect: () => undefined,
      min: 0,
      max: 2,
      poolSize: 2,
      idleTimeoutMillis: 1_000,
      connectionTimeoutMillis: 1_000,
      maxUses: 10,
      maxLifetimeSeconds: 60,
      allowExitOnIdle: true,
      statementTimeout: 1_000,
      lockTimeout: 1_000,
      idleInTransactionSessionTimeout: 1_000,
      endTimeoutMillis: 1_000,
      pipelineQueries: true,
      pipelineDepth: 8,
      pipelineSlowQueryMillis: 10,
      pipelineIsolateSlowQueries: true,
      name: 'ordinary',
      acquireTimeoutMillis: 1_000,
      createTimeoutMillis: 1_000,
      leakDetectionMillis: 0,
      ...({
        binary: false,
        replication: 'database',
        stream: undefined,
        scramMaxIterations: 10_000,
      } as object),
    });
    await delivered();
    expect(warnings).toEqual([]);
  });

  it('do not include any key that pg and pg-pool read (from their sources)', async () => {
    const require = createRequire(import.meta.url);
    const pgLib = join(dirname(require.resolve('pg/package.json')), 'lib');
    const read = (file: string) => readFileSync(join(pgLib, file), 'utf8');
    const keys = new Set<string>();
    const collect = (source: string, pattern: RegExp) => {
      for (const match of source.matchAll(pattern)) keys.add(match[1]!);
    };
    collect(read('client.js'), /\bc\.(\w+)/g); // the Client's config is `c` there
    collect(read('connection-parameters.js'), /\bconfig\.(\w+)/g);
    collect(read('connection-parameters.js'), /\bval\('(\w+)'/g);
    collect(read('native/client.js'), /\bconfig\.(\w+)/g);
    collect(readFileSync(require.resolve('pg-pool'), 'utf8'), /\boptions\.(\w+)/g);
    // Query config, not a Client's: read by client.query() and the native query.
    for (const key of ['submit', 'callback']) keys.delete(key);
    expect(keys.size).toBeGreaterThan(30);
    createPool(Object.fromEntries([...keys].map((key) => [key, undefined])));
    await delivered();
    expect(warnings.map((w) => w.message)).toEqual([]);
  });
});

describe('idle client errors', () => {
  it('carry err.client, are emitted as (err, client), and are logged', async () => {
    const { messages, log } = recordLog();
    const pool = createPool({ max: 1, log });
    const client = await pool.connect();
    const pid = await backendPid(client);
    client.release();
    const event = nextEvent<[Error & { client?: unknown }, pg.PoolClient]>(pool, 'error');
    await terminate(pid);
    const [error, errored] = await event;
    expect(errored).toBe(client);
    expect(error.client).toBe(client);
    expect(messages).toContainEqual(['idle client error', error.message]);
  });
});
