/**
 * The per-connection statement cache (src/pg/prepared/statement-cache.ts) against a stand-in
 * for pg's Client internals: admission from the second use, CLOCK eviction with its Close,
 * pg's record set so that only the first send parses, and forgetting after DEALLOCATE ALL.
 */
import { describe, expect, it } from 'vitest';

import { PreparePolicy } from '../../src/pg/prepared/policy.js';
import type { PgInternals } from '../../src/pg/prepared/statement-cache.js';

function fakeClient(): PgInternals & { closed: string[] } {
  const closed: string[] = [];
  return {
    closed,
    pipeline: true,
    connection: {
      parsedStatements: {},
      submittedNamedStatements: {},
      close: (message) => closed.push(message.name),
    },
  };
}

function setup(capacity: number) {
  const policy = new PreparePolicy({ mode: 'auto', capacity });
  const client = fakeClient();
  const cache = policy.attach(client)!;
  /** Looks `text` up and "sends" it: returns whether that send carries the Parse. */
  const send = (text: string): boolean | undefined => {
    const statement = cache.lookup(text);
    return statement === undefined ? undefined : cache.beforeSend(statement);
  };
  return { policy, client, cache, send };
}

describe('StatementCache', () => {
  it('gives a text a statement from its second use; only the first send of it parses', () => {
    const { send, policy, client, cache } = setup(10);
    expect(send('a')).toBeUndefined();
    expect(send('a')).toBe(true);
    expect(send('a')).toBe(false);
    expect(send('a')).toBe(false);
    const name = cache.lookup('a')!.name;
    expect(name).toMatch(/^lg_[0-9a-f]{32}_[0-9a-z]+$/);
    // pg's record says "submitted", so pg itself skips the Parse too.
    expect(client.connection!.submittedNamedStatements![name]).toBe('a');
    expect(policy.stats()).toMatchObject({ prepared: 1, hits: 2, evicted: 0 });
  });

  it('is not given pg-less clients (a custom Client class without pg internals)', () => {
    const policy = new PreparePolicy({ mode: 'auto', capacity: 10 });
    expect(policy.attach({})).toBeUndefined();
  });

  it('evicts the oldest statement not used since the last sweep, closing it before the next send', () => {
    const { send, client, cache, policy } = setup(2);
    for (const text of ['a', 'b', 'c', 'a', 'b']) send(text);
    const a = cache.lookup('a')!.name; // used: a second chance
    const b = cache.lookup('b')!; // used too, then cleared by the sweep below
    expect(send('c')).toBe(true); // full: a and b lose their bits, a comes round first again
    expect(client.closed).toEqual([a]);
    expect(client.connection!.submittedNamedStatements![a]).toBeUndefined();
    expect(client.connection!.parsedStatements![a]).toBeUndefined();
    expect(policy.stats().evicted).toBe(1);
    expect(cache.size).toBe(2);
    expect(b.name).not.toBe('');
  });

  it('keeps a statement used since the last sweep over one only just added (second chance)', () => {
    const { send, client, cache } = setup(2);
    for (const text of ['a', 'b', 'x', 'y', 'a', 'b']) send(text); // a, b in; x, y seen once
    const b = cache.lookup('b')!.name; // b used
    send('x'); // a: oldest, not used since it was added: goes
    expect(client.closed).toHaveLength(1);
    expect(client.closed).not.toContain(b);
    send('y'); // b has its bit: passed over once; x, only just added, goes
    expect(client.closed).toHaveLength(2);
    expect(client.closed).not.toContain(b);
    expect(cache.lookup('b')!.name).toBe(b);
  });

  it('a retired statement parses again under a new name, and its old one is closed', () => {
    const { send, cache, client } = setup(5);
    send('a');
    send('a');
    const statement = cache.lookup('a')!;
    const old = statement.name;
    cache.retire(statement);
    expect(statement.name).not.toBe(old);
    expect(send('a')).toBe(true);
    expect(client.closed).toEqual([old]);
  });

  it("forgets everything when pg's record is replaced (lifeguard ran DEALLOCATE ALL), closing nothing", () => {
    const { send, cache, client } = setup(5);
    send('a');
    send('a');
    client.connection!.parsedStatements = {}; // forgetPreparedStatements
    expect(send('a')).toBe(true);
    expect(cache.size).toBe(1);
    expect(client.closed).toEqual([]);
  });
});
