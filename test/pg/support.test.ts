/**
 * Tests of the test infrastructure itself: the shared database, the TCP fault proxy, the silent
 * server and the private stop/start-able database. If these lie, every fault test built on them
 * proves nothing, so each fault is checked against a real pg.Client.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

import { externalDatabaseUrl, redactUrl } from '../../scripts/lib/database.js';
import { serverControlUnavailable, useOwnDatabase } from '../support/own-database.js';
import { startSilentServer, type SilentServer } from '../support/silent-server.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';

const databaseUrl = inject('databaseUrl');
const clients = new Set<pg.Client>();

function client(url: string, config: Omit<pg.ClientConfig, 'connectionString'> = {}): pg.Client {
  const created = new pg.Client({ connectionString: url, ...config });
  // Faults make clients emit 'error'; an unhandled one would crash the worker.
  created.on('error', () => undefined);
  clients.add(created);
  return created;
}

async function connected(url: string, config: Omit<pg.ClientConfig, 'connectionString'> = {}) {
  const created = client(url, config);
  await created.connect();
  return created;
}

/** Resolves after `ms` without keeping the process alive. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

afterEach(async () => {
  // end() can wait forever on a black-holed socket; a bounded wait is enough to clean up.
  await Promise.all(
    [...clients].map((c) => Promise.race([c.end().catch(() => undefined), sleep(500)])),
  );
  clients.clear();
});

describe('shared database', () => {
  it('answers SELECT 1', async () => {
    const c = await connected(databaseUrl);
    const result = await c.query<{ one: number }>('SELECT 1 AS one');
    expect(result.rows).toEqual([{ one: 1 }]);
  });

  it('allows enough connections for pool tests', async () => {
    const c = await connected(databaseUrl);
    const result = await c.query<{ max: string }>(
      "SELECT current_setting('max_connections') AS max",
    );
    expect(Number(result.rows[0]?.max)).toBeGreaterThanOrEqual(
      inject('databaseExternal') ? 1 : 200,
    );
  });
});

describe('redactUrl and externalDatabaseUrl', () => {
  it('hides the password', () => {
    expect(redactUrl('postgresql://u:s3cret@h:5/d')).toBe('postgresql://u:***@h:5/d');
    expect(redactUrl(databaseUrl)).not.toContain(new URL(databaseUrl).password || '\0');
  });

  it('builds a URL from PG* variables', () => {
    const env = { PGHOST: 'db', PGPORT: '6543', PGUSER: 'a@b', PGPASSWORD: 'p%w', PGDATABASE: 'x' };
    const url = externalDatabaseUrl(env);
    expect(url).toBe('postgresql://a%40b:p%25w@db:6543/x');
    expect(externalDatabaseUrl({ PGHOST: '/run/pg', PGUSER: 'u' })).toBe(
      'postgresql://u@localhost:5432/u?host=%2Frun%2Fpg',
    );
    expect(externalDatabaseUrl({ DATABASE_URL: 'postgres://z' })).toBe('postgres://z');
    expect(externalDatabaseUrl({})).toBeUndefined();
  });
});

describe('TCP fault proxy', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
  });
  afterAll(async () => {
    await proxy.close();
  });
  afterEach(() => {
    proxy.setDelay(0);
    proxy.blackhole(false);
    proxy.refuseNew(false);
    proxy.dropAll();
  });

  it('forwards queries', async () => {
    const c = await connected(proxy.url(databaseUrl));
    expect(proxy.connectionCount).toBe(1);
    const result = await c.query<{ sum: number }>('SELECT $1::int + 1 AS sum', [41]);
    expect(result.rows).toEqual([{ sum: 42 }]);
  });

  it('delays each chunk in both directions', async () => {
    const c = await connected(proxy.url(databaseUrl));
    let started = Date.now();
    await c.query('SELECT 1');
    const baseline = Date.now() - started;
    // Loose: only has to show that no delay applies by default (a delayed one takes >= 300).
    expect(baseline).toBeLessThan(250);

    proxy.setDelay(150);
    started = Date.now();
    await c.query('SELECT 1');
    // One round trip: 150 ms on the way in, 150 ms on the way out.
    expect(Date.now() - started).toBeGreaterThanOrEqual(295);
  });

  it('black hole makes queries and new connections hang', async () => {
    const c = await connected(proxy.url(databaseUrl), { query_timeout: 300 });
    proxy.blackhole(true);
    await expect(c.query('SELECT 1')).rejects.toThrow(/timeout/i);

    const fresh = client(proxy.url(databaseUrl), { connectionTimeoutMillis: 300 });
    await expect(fresh.connect()).rejects.toThrow(/timeout/i);

    proxy.blackhole(false);
    const after = await connected(proxy.url(databaseUrl));
    await expect(after.query('SELECT 1')).resolves.toBeDefined();
  });

  it('dropAll breaks open connections with an error', async () => {
    const c = await connected(proxy.url(databaseUrl));
    const errors: Error[] = [];
    c.on('error', (error) => errors.push(error));
    const running = c.query('SELECT pg_sleep(3)');
    await sleep(50);
    proxy.dropAll();
    expect(proxy.connectionCount).toBe(0);
    await expect(running).rejects.toThrow(/ECONNRESET|terminated|closed/i);
    await expect(c.query('SELECT 1')).rejects.toThrow();
  });

  it('refuseNew makes new connections fail and leaves existing ones alone', async () => {
    const existing = await connected(proxy.url(databaseUrl));
    proxy.refuseNew(true);
    const refused = client(proxy.url(databaseUrl), { connectionTimeoutMillis: 2_000 });
    await expect(refused.connect()).rejects.toThrow(/ECONNRESET|terminated|closed/i);
    await expect(existing.query('SELECT 1')).resolves.toBeDefined();

    proxy.refuseNew(false);
    const accepted = await connected(proxy.url(databaseUrl));
    await expect(accepted.query('SELECT 1')).resolves.toBeDefined();
  });

  it('close() releases the port and every connection', async () => {
    const other = await startTcpProxy({ target: targetOf(databaseUrl) });
    const c = await connected(other.url(databaseUrl));
    await other.close();
    expect(other.connectionCount).toBe(0);
    await expect(c.query('SELECT 1')).rejects.toThrow();
    const late = client(other.url(databaseUrl), { connectionTimeoutMillis: 2_000 });
    await expect(late.connect()).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('silent server', () => {
  let silent: SilentServer;
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(async () => {
    await silent.close();
  });

  it('makes connect time out', async () => {
    const c = client(silent.url(databaseUrl), { connectionTimeoutMillis: 200 });
    const started = Date.now();
    await expect(c.connect()).rejects.toThrow(/timeout/i);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2_000);
    expect(silent.acceptedCount).toBeGreaterThanOrEqual(1);
  });
});

if (serverControlUnavailable !== undefined) {
  console.warn(`[support.test] skipping server stop/start tests: ${serverControlUnavailable}`);
}

describe.skipIf(serverControlUnavailable !== undefined)('own database stop/start', () => {
  const database = useOwnDatabase();

  it('really stops and restarts the server on the same port', async () => {
    const db = database();
    const before = await connected(db.url);
    await expect(before.query('SELECT 1')).resolves.toBeDefined();

    await db.stopServer();
    expect(db.running).toBe(false);
    // The server's shutdown ends open sessions...
    await expect(before.query('SELECT 1')).rejects.toThrow();
    // ...and nothing listens any more.
    await expect(client(db.url).connect()).rejects.toThrow(/ECONNREFUSED/);

    await db.startServer();
    expect(db.running).toBe(true);
    expect(new URL(db.url).port).toBe(String(db.port));
    const after = await connected(db.url);
    const result = await after.query<{ one: number }>('SELECT 1 AS one');
    expect(result.rows).toEqual([{ one: 1 }]);
  });
});
