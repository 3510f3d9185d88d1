/**
 * Tenants against a real server: 50 tenants as databases and as roles with schemas, under a
 * budget of 20, each query seeing only its own tenant; how calls name their tenant; LRU
 * eviction, idle close and overflow 'fail', waited for by events, never by the clock.
 */
import { once } from 'node:events';

import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';

import { RoutingError, type TenantRouter } from '../../src/routing/index.js';
import {
  createTenantDatabases,
  createTenantRoles,
  databaseTenant,
  dbName,
  roleName,
  roleTenant,
  schemaName,
  tenantRouter,
} from './tenants-fixtures.js';

const kTenants = 50;
const kBudget = 20;

/** `rounds` passes over every tenant in a shuffled order, 25 calls at a time. */
async function everyTenant(rounds: number, call: (key: string) => Promise<void>): Promise<void> {
  const keys: string[] = [];
  for (let r = 0; r < rounds; r++) for (let i = 0; i < kTenants; i++) keys.push(String(i));
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  for (let i = 0; i < keys.length; i += 25) await Promise.all(keys.slice(i, i + 25).map(call));
}

describe('tenants as databases', () => {
  beforeAll(() => createTenantDatabases(kTenants), 120_000);

  it('serves 50 databases under a budget of 20, each query in its own database', async () => {
    const router = tenantRouter({
      budget: kBudget,
      perTenant: { max: 3 },
      resolve: databaseTenant,
    });
    let highest = 0;
    await everyTenant(3, async (key) => {
      const { rows } = await router.query<{ db: string }>({
        text: 'SELECT current_database() AS db',
        tenant: key,
      });
      expect(rows[0]!.db).toBe(dbName(Number(key)));
      highest = Math.max(highest, router.budget!.used);
    });
    expect(highest).toBeLessThanOrEqual(kBudget);
    const counts = router.stats().tenants;
    expect(counts.created).toBeGreaterThanOrEqual(kTenants);
    expect(counts.evicted).toBeGreaterThan(0); // 50 tenants cannot all stay in 20 slots
    expect(counts.live).toBeLessThanOrEqual(kTenants);
  });
});

describe('tenants as roles and schemas', () => {
  beforeAll(() => createTenantRoles(kTenants), 120_000);

  it('serves 50 roles under a budget of 20 by query, connect and transaction', async () => {
    const router = tenantRouter({ budget: kBudget, perTenant: { max: 2 }, resolve: roleTenant });
    const probe = 'SELECT current_user AS u, current_schema() AS s, tenant FROM marker';
    const expected = (key: string): unknown => ({
      u: roleName(Number(key)),
      s: schemaName(Number(key)),
      tenant: Number(key),
    });
    await everyTenant(2, async (key) => {
      const handle = router.tenant(key);
      expect((await handle.query(probe)).rows).toEqual([expected(key)]);
      const client = await handle.connect();
      try {
        expect((await client.query(probe)).rows).toEqual([expected(key)]);
      } finally {
        client.release();
      }
      const rows = await router.transaction(async (tx) => (await tx.query(probe)).rows, {
        tenant: key,
      });
      expect(rows).toEqual([expected(key)]);
      const inside = await router.withTenant(key, () => router.query(probe));
      expect(inside.rows).toEqual([expected(key)]);
    });
    expect(router.budget!.used).toBeLessThanOrEqual(kBudget);
    const keys = router.tenants().map((tenant) => tenant.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(router.stats().members).sort()).toEqual(
      router
        .tenants()
        .filter((t) => t.state === 'open')
        .map((t) => t.key)
        .sort(),
    );
  });

  it('refuses a call that names no tenant, with a clear error', async () => {
    const router = tenantRouter({ budget: 2, resolve: roleTenant });
    await expect(router.query('SELECT 1')).rejects.toMatchObject({
      code: 'ERR_ROUTING_UNKNOWN_ROUTE',
      message: expect.stringMatching(/withTenant/),
    });
    await expect(router.connect()).rejects.toBeInstanceOf(RoutingError);
    await expect(router.transaction(() => 1)).rejects.toMatchObject({
      code: 'ERR_ROUTING_UNKNOWN_ROUTE',
    });
    expect(() => router.tenant('')).toThrow(RoutingError);
    // The callback style gets the error too.
    const error = await new Promise((resolve) => router.query('SELECT 1', [], resolve));
    expect(error).toBeInstanceOf(RoutingError);
  });

  it('shares one opening between concurrent first calls; a failed resolve is not cached', async () => {
    let resolves = 0;
    let fail = true;
    const router = tenantRouter({
      budget: 4,
      resolve: async (key) => {
        resolves++;
        await Promise.resolve();
        if (fail) throw new Error(`no tenant ${key}`);
        return roleTenant(key);
      },
    });
    const failed = await Promise.allSettled(
      [1, 2, 3].map(() => router.tenant('1').query('SELECT 1')),
    );
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(resolves).toBe(1);
    fail = false;
    const ok = await Promise.all(
      [1, 2, 3].map(() => router.tenant('1').query('SELECT current_user AS u')),
    );
    expect(ok.map((r) => r.rows[0])).toEqual([1, 2, 3].map(() => ({ u: roleName(1) })));
    expect(resolves).toBe(2);
    expect(router.stats().tenants.created).toBe(1);
  });

  it('evicts the least recently used idle tenant pool when the budget is full', async () => {
    const router = tenantRouter({ budget: 2, perTenant: { max: 1 }, resolve: roleTenant });
    await router.tenant('0').query('SELECT 1');
    await router.tenant('1').query('SELECT 1');
    await router.tenant('0').query('SELECT 1'); // 1 is now the least recently used
    await until(() => router.tenants().every((t) => t.idleCount === t.totalCount));
    const closed = once(router, 'tenantClosed');
    const { rows } = await router.tenant('2').query('SELECT current_user AS u');
    expect(rows).toEqual([{ u: roleName(2) }]);
    expect(await closed).toEqual(['1', 'evicted']);
    expect(
      router
        .tenants()
        .map((t) => t.key)
        .sort(),
    ).toEqual(['0', '2']);
    expect(router.stats().tenants.evicted).toBe(1);
  });

  it('closes a tenant pool idle for idleCloseMillis, and reopens it on the next call', async () => {
    const router = tenantRouter({ budget: 2, idleCloseMillis: 20, resolve: roleTenant });
    await router.tenant('3').query('SELECT 1');
    expect(await once(router, 'tenantClosed')).toEqual(['3', 'idle']);
    expect(router.tenants()).toEqual([]);
    expect(router.stats().tenants).toMatchObject({ live: 0, created: 1, closedIdle: 1 });
    expect((await router.tenant('3').query('SELECT current_user AS u')).rows).toEqual([
      { u: roleName(3) },
    ]);
    expect(router.stats().tenants.created).toBe(2);
  });

  it("overflow 'fail': a tenant with no connection fails when every slot is in use", async () => {
    const router = tenantRouter({ budget: 1, overflow: 'fail', resolve: roleTenant });
    const held = await router.tenant('0').connect();
    await expect(router.tenant('1').query('SELECT 1')).rejects.toMatchObject({
      code: 'ERR_ROUTING_BUDGET_EXHAUSTED',
    });
    held.release();
    await until(() => router.tenants().find((t) => t.key === '0')?.idleCount === 1);
    // Now tenant 0's pool is idle: it is closed for tenant 1.
    expect((await router.tenant('1').query('SELECT current_user AS u')).rows).toEqual([
      { u: roleName(1) },
    ]);
  });

  it("overflow 'wait': a tenant waits, and gets the slot once the holder's connection is idle", async () => {
    const router = tenantRouter({ budget: 1, resolve: roleTenant });
    const held = await router.tenant('0').connect();
    const waiting = router.tenant('1').query('SELECT current_user AS u');
    await until(() => router.tenants().some((t) => t.key === '1' && t.waitingCount > 0));
    held.release(); // no idle timeout involved: the idle pool of tenant 0 is closed for it
    expect((await waiting).rows).toEqual([{ u: roleName(1) }]);
    expect(router.stats().tenants.evicted).toBe(1);
  });
});

describe('tenants: calling styles and minimums', () => {
  beforeAll(() => createTenantRoles(4), 120_000);

  it('takes pg.Pool callbacks and submittables on a tenant not opened yet', async () => {
    const router = tenantRouter({ budget: 2, resolve: roleTenant });
    const viaCallback = await new Promise((resolve, reject) =>
      router
        .tenant('0')
        .query('SELECT current_user AS u', (error, result) =>
          error ? reject(error) : resolve(result.rows),
        ),
    );
    expect(viaCallback).toEqual([{ u: roleName(0) }]);
    const query = new pg.Query('SELECT current_user AS u');
    const rows: unknown[] = [];
    query.on('row', (row) => rows.push(row));
    const ended = once(query, 'end');
    router.tenant('1').query(query);
    await ended;
    expect(rows).toEqual([{ u: roleName(1) }]);
    const released = await new Promise((resolve, reject) =>
      router.tenant('2').connect((error, client, done) => {
        if (error || client === undefined) return reject(error);
        client.query('SELECT current_user AS u').then((r) => {
          done();
          resolve(r.rows);
        }, reject);
      }),
    );
    expect(released).toEqual([{ u: roleName(2) }]);
    await router.end();
    await expect(router.tenant('0').query('SELECT 1')).rejects.toThrow(/after calling end/);
  });

  it('perTenant.min: a pool whose minimum does not fit closes an idle one, or fails', async () => {
    const router = tenantRouter({ budget: 2, perTenant: { min: 1, max: 1 }, resolve: roleTenant });
    const held = await router.tenant('0').connect();
    await router.tenant('1').query('SELECT 1');
    await until(() => router.tenants().find((t) => t.key === '1')?.idleCount === 1);
    // Tenant 1 is idle: closed to make room for tenant 2's minimum.
    expect((await router.tenant('2').query('SELECT current_user AS u')).rows).toEqual([
      { u: roleName(2) },
    ]);
    expect(
      router
        .tenants()
        .map((t) => t.key)
        .sort(),
    ).toEqual(['0', '2']);
    const other = await router.tenant('2').connect();
    await expect(router.tenant('3').query('SELECT 1')).rejects.toMatchObject({
      code: 'ERR_ROUTING_BUDGET_EXHAUSTED',
    });
    held.release();
    other.release();
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

export type { TenantRouter };
