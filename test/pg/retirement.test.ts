/**
 * Connections retire by use count and by age, like pg.Pool's `maxUses` and
 * `maxLifetimeSeconds`: never while checked out, always when they come back.
 */
import { describe, expect, it } from 'vitest';

import { backendPid, createPool, nextEvent, sleep } from './helpers.js';

describe('retiring connections', () => {
  it('replaces a connection after maxUses checkouts', async () => {
    const pool = createPool({ max: 1, maxUses: 3 });
    const pids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const client = await pool.connect();
      pids.push(await backendPid(client));
      client.release();
    }
    // Three checkouts per connection: a, a, a, b, b, b, c.
    expect(new Set(pids.slice(0, 3)).size).toBe(1);
    expect(new Set(pids.slice(3, 6)).size).toBe(1);
    expect(pids[3]).not.toBe(pids[0]);
    expect(pids[6]).not.toBe(pids[3]);
    expect(pool.stats().destroys.uses).toBe(2);
  });

  it('never closes a connection in use past maxLifetimeSeconds, counts it as expired, retires it on release', async () => {
    const pool = createPool({ max: 1, maxLifetimeSeconds: 1 });
    const client = await pool.connect();
    const pid = await backendPid(client);
    await sleep(1_100); // past the lifetime (shortened by up to 10% of jitter, never lengthened)
    expect(pool.expiredCount).toBe(1);
    expect(await backendPid(client)).toBe(pid); // still usable: never killed under the caller
    const removed = nextEvent(pool, 'remove');
    client.release();
    await removed;
    expect(pool.expiredCount).toBe(0);
    expect(pool.stats().destroys.lifetime).toBe(1);
    const next = await pool.connect();
    expect(await backendPid(next)).not.toBe(pid);
    next.release();
  });
});
