/**
 * The tenant router's bookkeeping with fake pools and a fake clock: which pools count as idle,
 * which one is evicted first (least recently used, never a busy one), when idle pools are
 * swept, and what is counted. No database, no timers.
 */
import { describe, expect, it } from 'vitest';

import {
  TenantRegistry,
  type TenantEntry,
  type TenantPoolLike,
} from '../../src/routing/tenants-registry.js';
import { poolName } from '../../src/routing/tenants-config.js';
import {
  quoteIdentifier,
  tenantResetSql,
  tenantSetupSql,
} from '../../src/routing/tenants-session.js';
import type { TenantCloseReason } from '../../src/routing/tenants-types.js';

class FakePool implements TenantPoolLike {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  ended = false;
  readonly #end: { resolve: () => void } = { resolve: () => undefined };
  end(): Promise<void> {
    this.ended = true;
    return new Promise((resolve) => (this.#end.resolve = resolve));
  }
  finishEnd(): void {
    this.#end.resolve();
  }
  /** `n` connections open, `idle` of them idle. */
  holding(n: number, idle = n): this {
    this.totalCount = n;
    this.idleCount = idle;
    return this;
  }
}

function setup() {
  let now = 0;
  const closed: [string, TenantCloseReason][] = [];
  const registry = new TenantRegistry<FakePool>(() => now, {
    closed: (key, _pool, reason) => closed.push([key, reason]),
  });
  const open = (key: string, pool = new FakePool()): TenantEntry<FakePool> => {
    const entry = registry.add(key, Promise.resolve(pool));
    registry.opened(entry, pool);
    return entry;
  };
  const advance = (ms: number): void => {
    now += ms;
  };
  return { registry, open, advance, closed };
}

describe('TenantRegistry', () => {
  it('counts a pool idle only with nothing in use, nobody waiting and no call on its way', () => {
    const { registry, open } = setup();
    const entry = open('a', new FakePool().holding(2));
    expect(registry.isIdle(entry)).toBe(true);
    entry.pool!.idleCount = 1;
    expect(registry.isIdle(entry)).toBe(false);
    entry.pool!.idleCount = 2;
    entry.pool!.waitingCount = 1;
    expect(registry.isIdle(entry)).toBe(false);
    entry.pool!.waitingCount = 0;
    entry.pending = 1;
    expect(registry.isIdle(entry)).toBe(false);
    const opening = registry.add('b', new Promise(() => undefined));
    expect(registry.isIdle(opening)).toBe(false);
  });

  it('evicts the least recently used idle pool holding slots, never a busy one or the caller', () => {
    const { registry, open, advance, closed } = setup();
    const a = open('a', new FakePool().holding(2));
    advance(1);
    const b = open('b', new FakePool().holding(1, 0)); // busy
    advance(1);
    const c = open('c', new FakePool().holding(0)); // holds nothing: freeing it frees no slot
    advance(1);
    const d = open('d', new FakePool().holding(3));
    advance(1);
    registry.touch(a); // a is now the most recently used
    expect(registry.evict(c, 1)).toBe(3);
    expect(d.pool!.ended).toBe(true);
    expect([a, b, c].map((e) => e.pool!.ended)).toEqual([false, false, false]);
    expect(registry.get('d')).toBeUndefined();
    expect(registry.closingSlots).toBe(3);
    expect(registry.evict(a, 1)).toBe(0); // only a could give, and a is the caller
    expect(registry.evict(undefined, 1)).toBe(2);
    expect(registry.counts()).toMatchObject({ live: 2, created: 4, evicted: 2, closedIdle: 0 });
    d.pool!.finishEnd();
    return Promise.resolve().then(async () => {
      await registry.closing('d');
      expect(closed).toContainEqual(['d', 'evicted']);
      expect(registry.closingSlots).toBe(2);
    });
  });

  it('evicts any idle pool (holding slots or not) when asked for a pool, not slots', () => {
    const { registry, open, advance } = setup();
    open('a', new FakePool().holding(1, 0));
    advance(1);
    const b = open('b', new FakePool().holding(0));
    expect(registry.evict(undefined, 0)).toBe(1);
    expect(b.pool!.ended).toBe(true);
    expect(registry.evict(undefined, 0)).toBe(0);
  });

  it('sweeps pools idle for idleCloseMillis; a pool seen busy counts as just used', () => {
    const { registry, open, advance } = setup();
    const idle = open('idle', new FakePool().holding(1));
    const busy = open('busy', new FakePool().holding(1, 0));
    advance(99);
    registry.sweep(100);
    expect(idle.pool!.ended).toBe(false);
    advance(1);
    registry.sweep(100);
    expect(idle.pool!.ended).toBe(true);
    expect(busy.pool!.ended).toBe(false);
    busy.pool!.idleCount = 1; // given back after a long hold
    advance(50);
    registry.sweep(100);
    expect(busy.pool!.ended).toBe(false);
    advance(50);
    registry.sweep(100);
    expect(busy.pool!.ended).toBe(true);
    expect(registry.counts()).toMatchObject({ live: 0, closedIdle: 2, evicted: 0 });
  });

  it('forgets a failed opening, and a close of a stale entry does nothing', async () => {
    const { registry, open } = setup();
    const failed = registry.add('a', new Promise(() => undefined));
    registry.forget(failed);
    expect(registry.get('a')).toBeUndefined();
    const entry = open('b', new FakePool().holding(1));
    void registry.close(entry, 'idle');
    await registry.close(entry, 'idle'); // second close: already gone
    expect(registry.counts().closedIdle).toBe(1);
  });
});

describe('tenant session SQL', () => {
  it('quotes identifiers, never passing input through as SQL', () => {
    expect(quoteIdentifier('t"; DROP TABLE x; --', 'role')).toBe('"t""; DROP TABLE x; --"');
    expect(() => quoteIdentifier('', 'role')).toThrow(/non-empty/);
    expect(() => quoteIdentifier('a\0b', 'role')).toThrow(/NUL/);
    expect(tenantSetupSql({ role: 'Tenant A', searchPath: ['s1', 'public'] })).toBe(
      'SET ROLE "Tenant A"; SET search_path TO "s1", "public"',
    );
    expect(tenantSetupSql({ searchPath: 'a, b' })).toBe('SET search_path TO "a, b"');
    expect(tenantSetupSql({ database: 'x' })).toBeUndefined();
  });

  it('resets the whole session (the role too) before the tenant SETs, in one string', () => {
    const sql = tenantResetSql('SET ROLE "r"');
    expect(sql).not.toMatch(/DISCARD ALL/); // refused inside a multi-statement query
    for (const step of [
      'SET SESSION AUTHORIZATION DEFAULT',
      'RESET ALL',
      'DEALLOCATE ALL',
      'UNLISTEN *',
      'pg_advisory_unlock_all()',
      'DISCARD TEMP',
      'CLOSE ALL',
    ]) {
      expect(sql).toContain(step);
    }
    expect(sql.endsWith('; SET ROLE "r"')).toBe(true);
  });

  it('names pools <router>.<key>, sanitized and kept unique', () => {
    expect(poolName('tenants', 'acme-1_x')).toBe('tenants.acme-1_x');
    const odd = poolName('tenants', 'a/b');
    expect(odd).toMatch(/^tenants\.a_b~[0-9a-f]{8}$/);
    expect(poolName('tenants', 'a_b')).not.toBe(odd);
    expect(poolName('tenants', 'x'.repeat(100)).length).toBeLessThan(70);
  });
});
