/**
 * The lanes (src/pg/pipeline/lanes.ts) against scripted fake pg clients: how many are opened,
 * when they go back to the core, and how they make way for exclusive checkouts.
 */
import { describe, expect, it } from 'vitest';

import { flush, track } from '../core/support/harness.js';
import { makeRig, useFakePg } from './support/fake-pg.js';

useFakePg();

/** Lets the microtasks run, but not the end of the turn (setImmediate). */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('the lanes', () => {
  it('opens one lane per `depth` waiting queries, up to max', async () => {
    const rig = makeRig({ max: 3 }, { depth: 2 });
    for (let n = 0; n < 9; n++) void rig.query(`SELECT ${n}`);
    await flush();
    expect(rig.clients).toHaveLength(3);
    expect(rig.clients.map((c) => c.pending.length)).toEqual([2, 2, 2]);
    expect(rig.dispatcher.counts().waiting).toBe(3);
  });

  it('puts a query on the least loaded lane', async () => {
    const rig = makeRig({ max: 2 }, { depth: 4 });
    for (let n = 0; n < 8; n++) void rig.query(`SELECT ${n}`);
    await flush();
    const [a, b] = rig.clients;
    a!.answer();
    a!.answer();
    await microtasks();
    void rig.query('SELECT next');
    expect(a!.pending.at(-1)?.text).toBe('SELECT next');
    expect(b!.pending).toHaveLength(4);
  });

  it('keeps an emptied lane until the end of the turn, counted idle, then gives it back', async () => {
    const rig = makeRig({ max: 2 });
    const a = track(rig.query('SELECT 1'));
    const b = track(rig.query('SELECT 2'));
    await flush();
    const client = rig.clients[0]!;
    client.answer();
    client.answer();
    await microtasks();
    expect(a.status).toBe('resolved');
    expect(b.status).toBe('resolved');
    expect(rig.core.inUse).toBe(1);
    expect(rig.dispatcher.counts().idle).toBe(1);
    // A caller's next query, a few microtasks after its answer, finds the lane still there.
    void rig.query('SELECT 3');
    expect(client.pending.map((w) => w.text)).toEqual(['SELECT 3']);
    client.answer();
    await flush(); // the end of the turn
    expect(rig.core.inUse).toBe(0);
    expect(rig.core.idle).toBe(1);
    expect(rig.dispatcher.counts().idle).toBe(0);
  });

  it('gives a lane back at once when it only had one query and someone waits in the core', async () => {
    const rig = makeRig({ max: 1 });
    const query = track(rig.query('SELECT 1'));
    await flush();
    const exclusive = track(rig.checkout.acquire());
    await microtasks();
    expect(exclusive.status).toBe('pending');
    rig.clients[0]!.answer();
    await microtasks();
    expect(query.status).toBe('resolved');
    expect(exclusive.status).toBe('resolved');
    expect(exclusive.value?.lane).toBe(false);
    rig.checkout.release(exclusive.value!);
  });

  it('yields to an exclusive caller: a lane stops taking queries and goes back when it empties', async () => {
    const rig = makeRig({ max: 1 }, { depth: 4 });
    const queries = [1, 2].map((n) => track(rig.query(`SELECT ${n}`)));
    await flush();
    const client = rig.clients[0]!;
    const exclusive = track(rig.checkout.acquire());
    const later = track(rig.query('SELECT 3'));
    await microtasks();
    // The lane drains: the new query is not written behind the exclusive caller.
    expect(client.pending.map((w) => w.text)).toEqual(['SELECT 1', 'SELECT 2']);
    client.answer();
    client.answer();
    await microtasks();
    expect(queries.map((q) => q.status)).toEqual(['resolved', 'resolved']);
    expect(exclusive.status).toBe('resolved');
    expect(exclusive.value?.client.pipeline).toBe(false);
    expect(later.status).toBe('pending');
    rig.checkout.release(exclusive.value!);
    await flush();
    client.answer(client.pending[0]);
    await flush();
    expect(later.status).toBe('resolved');
  });
});
