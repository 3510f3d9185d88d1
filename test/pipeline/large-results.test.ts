/**
 * Large results on a lane (src/pg/pipeline/lane.ts, `pipelineLargeResultBytes`), against the
 * scripted fake pg client: a lane whose head's answer has brought in more bytes than the
 * threshold takes no new queries; what was written behind it still completes; a statement seen
 * large once runs apart from then on; and a new statement at the head of a lane that has answered
 * nothing yet has nothing written behind it.
 */
import { describe, expect, it } from 'vitest';

import { flush, track } from '../core/support/harness.js';
import { makeRig, useFakePg, type FakeClient } from './support/fake-pg.js';

useFakePg();

const texts = (client: FakeClient | undefined): string[] => client!.pending.map((w) => w.text);
const rowText = (result: { rows: unknown[] } | undefined): string =>
  (result!.rows[0] as { text: string }).text;

/** A rig with one lane open and idle (its first query answered, kept for the turn). */
async function withLane(...args: Parameters<typeof makeRig>) {
  const rig = makeRig(...args);
  const first = rig.query('SELECT 0');
  await flush();
  rig.clients[0]!.answer();
  await first;
  return rig;
}

describe('a lane receiving a large answer', () => {
  it('takes no new query once the head has brought in more than the threshold; what was written behind it completes', async () => {
    const rig = await withLane({ max: 2 }, { largeResultBytes: 1000 });
    const lane = rig.clients[0]!;
    const big = track(rig.query('SELECT big'));
    lane.receive(600);
    const behind = track(rig.query('SELECT behind')); // 600 bytes: still fine, same lane
    expect(texts(lane)).toEqual(['SELECT big', 'SELECT behind']);
    lane.receive(600);
    const beside = track(rig.query('SELECT beside')); // 1200 bytes: held up, another lane opens
    await flush();
    expect(texts(lane)).toEqual(['SELECT big', 'SELECT behind']);
    const other = rig.clients[1]!;
    expect(texts(other)).toEqual(['SELECT beside']);
    other.answer();
    await flush();
    expect(beside.status).toBe('resolved');
    expect(big.status).toBe('pending');
    lane.answer();
    lane.answer();
    // Its answer is in: the count starts again, and the lane takes queries again.
    lane.receive(600);
    const after = track(rig.query('SELECT after'));
    expect(texts(lane)).toEqual(['SELECT after']);
    lane.answer();
    await flush();
    expect([big, behind, beside, after].map((q) => rowText(q.value))).toEqual([
      'SELECT big',
      'SELECT behind',
      'SELECT beside',
      'SELECT after',
    ]);
  });

  it('keeps new queries waiting, not stranded, when no other connection may be opened', async () => {
    const rig = await withLane({ max: 1 }, { largeResultBytes: 1000 });
    const lane = rig.clients[0]!;
    const big = track(rig.query('SELECT big'));
    lane.receive(5000);
    const small = track(rig.query('SELECT small'));
    await flush();
    expect(texts(lane)).toEqual(['SELECT big']);
    expect(rig.dispatcher.counts().waiting).toBe(1);
    lane.answer(); // the large answer is in: the waiting query goes onto the lane
    await flush();
    expect(texts(lane)).toEqual(['SELECT small']);
    lane.answer();
    await flush();
    expect([big.status, small.status]).toEqual(['resolved', 'resolved']);
    expect(rig.dispatcher.counts().waiting).toBe(0);
    expect(rig.clients).toHaveLength(1);
  });

  it('counts nothing with the threshold at 0 (off)', async () => {
    const rig = await withLane({ max: 2 }, { largeResultBytes: 0 });
    const lane = rig.clients[0]!;
    void rig.query('SELECT big');
    lane.receive(50 * 1024 * 1024);
    void rig.query('SELECT small');
    await flush();
    expect(texts(lane)).toEqual(['SELECT big', 'SELECT small']);
    expect(rig.clients).toHaveLength(1);
  });
});

describe('a statement seen with a large answer', () => {
  /** One large answer on a lane that has answered, then that statement and a known one. */
  async function afterOneLargeAnswer(largeResultBytes: number) {
    const rig = makeRig({ max: 4 }, { isolateSlowQueries: true, largeResultBytes, depth: 8 });
    void rig.query('SELECT 0');
    await flush();
    const lane = rig.clients[0]!;
    lane.answer(); // known now; the lane is kept for the rest of the turn
    const first = track(rig.query('SELECT big'));
    expect(texts(lane)).toEqual(['SELECT big']);
    lane.receive(5000); // nothing is dispatched while it comes in: learned as it is answered
    lane.answer();
    const queries = [track(rig.query('SELECT big')), track(rig.query('SELECT 0'))];
    await flush();
    const where = rig.clients.map(texts);
    for (const client of rig.clients) while (client.pending.length > 0) client.answer();
    await flush();
    expect([first, ...queries].map((q) => q.status)).toEqual(['resolved', 'resolved', 'resolved']);
    return where;
  }

  it('runs apart from its next run on, after one large answer, even one that came fast', async () => {
    // The large statement on a connection of its own, the small one on the lane.
    expect(await afterOneLargeAnswer(1000)).toEqual([['SELECT 0'], ['SELECT big']]);
    // Not counted: both on the lane, the small one behind the large one.
    expect(await afterOneLargeAnswer(0)).toEqual([['SELECT big', 'SELECT 0']]);
  });
});

describe('a new statement at the head of a lane that has answered nothing', () => {
  const isolating = { isolateSlowQueries: true, depth: 8 } as const;

  it('has nothing written behind it: what arrives with it goes onto another lane', async () => {
    const rig = makeRig({ max: 2 }, isolating);
    const queries = ['SELECT a', 'SELECT b'].map((text) => track(rig.query(text)));
    await flush();
    expect(texts(rig.clients[0])).toEqual(['SELECT a']);
    expect(texts(rig.clients[1])).toEqual(['SELECT b']);
    for (const client of rig.clients) client.answer();
    await flush();
    expect(queries.map((q) => rowText(q.value))).toEqual(['SELECT a', 'SELECT b']);
  });

  it('holds back one lane at a time: a burst of new statements opens one lane more, not max', async () => {
    const rig = makeRig({ max: 4 }, isolating);
    const texts4 = ['SELECT a', 'SELECT b', 'SELECT c', 'SELECT d'];
    const queries = texts4.map((text) => track(rig.query(text)));
    await flush();
    expect(rig.clients.map(texts)).toEqual([['SELECT a'], ['SELECT b', 'SELECT c', 'SELECT d']]);
    for (const client of rig.clients) while (client.pending.length > 0) client.answer();
    await flush();
    expect(queries.map((q) => rowText(q.value))).toEqual(texts4);
  });

  it('holds what arrives with it until its answer when no other lane can be opened', async () => {
    const rig = makeRig({ max: 2 }, isolating);
    const held = await rig.checkout.acquire(); // the other connection, taken
    const queries = ['SELECT a', 'SELECT b', 'SELECT c'].map((text) => track(rig.query(text)));
    await flush();
    const lane = rig.clients[1]!;
    expect(texts(lane)).toEqual(['SELECT a']);
    lane.answer(); // the lane has answered: known statements or not, it takes them now
    await flush();
    expect(texts(lane)).toEqual(['SELECT b', 'SELECT c']);
    lane.answer();
    lane.answer();
    await flush();
    expect(queries.map((q) => rowText(q.value))).toEqual(['SELECT a', 'SELECT b', 'SELECT c']);
    rig.checkout.release(held);
  });
});
