/**
 * One lane (src/pg/pipeline/lane.ts) against a scripted fake pg client: writing, corking,
 * answers and their order, failures alone and with the connection, the head-of-line check.
 */
import { describe, expect, it } from 'vitest';

import { PgConnectionLostError } from '../../src/pg/errors.js';
import { advance, flush, track } from '../core/support/harness.js';
import { makeRig, reset, sqlError, useFakePg } from './support/fake-pg.js';

useFakePg();

/** A rig with one lane open and idle (its first query answered, kept for the turn). */
async function withLane(...args: Parameters<typeof makeRig>) {
  const rig = makeRig(...args);
  const first = rig.query('SELECT 0');
  await flush(); // the lane is opened (acquired from the core) and the query written
  rig.clients[0]!.answer();
  await first;
  return rig;
}

describe('a lane', () => {
  it('writes the queries of one batch while corked, and they leave in one write', async () => {
    const rig = makeRig({ max: 1 });
    const results = [1, 2, 3].map((n) => track(rig.query(`SELECT ${n}`)));
    await flush();
    const client = rig.clients[0]!;
    expect(client.writes.map((w) => [w.text, w.corked])).toEqual([
      ['SELECT 1', true],
      ['SELECT 2', true],
      ['SELECT 3', true],
    ]);
    expect(client.stream.flushes).toBe(1);
    expect(client.stream.corks).toBe(0);
    for (let i = 0; i < 3; i++) client.answer();
    await flush();
    expect(results.map((r) => (r.value?.rows[0] as { text: string }).text)).toEqual([
      'SELECT 1',
      'SELECT 2',
      'SELECT 3',
    ]);
  });

  it('writes a query onto a ready lane at once, in the same turn', async () => {
    const rig = await withLane();
    const client = rig.clients[0]!;
    void rig.query('SELECT 1');
    expect(client.writes.at(-1)?.text).toBe('SELECT 1');
  });

  it('defers a callback that fires inside send, so the next query is not queued ahead of it', async () => {
    const rig = await withLane();
    const client = rig.clients[0]!;
    const bad = new TypeError('cannot serialize');
    client.failInsideSend = (values) => (values?.[0] === 'bad' ? bad : undefined);
    const failed = track(rig.query('SELECT $1', ['bad']));
    const next = track(rig.query('SELECT 2'));
    // Both written, in order: the early callback did not run inside pg's send.
    expect(client.writes.slice(-2).map((w) => w.text)).toEqual(['SELECT $1', 'SELECT 2']);
    await flush();
    expect(failed.error).toBe(bad);
    client.answer(client.writes.at(-1));
    await flush();
    expect(next.status).toBe('resolved');
    expect(rig.clients).toHaveLength(1);
  });

  it('counts the first of two callbacks for one query, and ignores the second', async () => {
    const rig = await withLane({ max: 1 });
    const client = rig.clients[0]!;
    const early = new TypeError('cannot serialize');
    client.failInsideSend = () => early;
    const failed = track(rig.query('SELECT $1', [1]));
    await flush();
    // pg calls back again at the query's ReadyForQuery: the lane must not count it twice.
    client.writes.at(-1)!.callback(null, undefined);
    client.failInsideSend = undefined;
    const later = track(rig.query('SELECT 2'));
    await flush();
    client.answer(client.writes.at(-1));
    await flush();
    expect(failed.error).toBe(early);
    expect(failed.settleCount).toBe(1);
    expect(later.status).toBe('resolved');
    expect(rig.dispatcher.counts().waiting).toBe(0);
  });

  it('fails only the query that errs with a SQL error; the lane carries on', async () => {
    const rig = await withLane();
    const client = rig.clients[0]!;
    const failing = track(rig.query('SELECT 1/0'));
    const fine = track(rig.query('SELECT 1'));
    const error = sqlError();
    client.fail(error);
    client.answer();
    await flush();
    expect(failing.error).toBe(error);
    expect(fine.status).toBe('resolved');
    void rig.query('SELECT 2');
    await flush();
    expect(client.pending.map((w) => w.text)).toEqual(['SELECT 2']);
    expect(rig.clients).toHaveLength(1);
  });

  it('fails every query in flight when its connection breaks; waiting ones go to another lane', async () => {
    const rig = await withLane({ max: 2 }, { depth: 3 });
    const first = rig.clients[0]!;
    const inFlight = [1, 2, 3].map((n) => track(rig.query(`SELECT ${n}`)));
    const waiting = track(rig.query('SELECT 4'));
    await flush();
    expect(first.pending).toHaveLength(3);
    first.breakWith(reset());
    await flush();
    for (const query of inFlight) {
      const error = query.error as PgConnectionLostError;
      expect(error).toBeInstanceOf(PgConnectionLostError);
      expect(error.mayHaveRun).toBe(true);
      expect(error.message).toMatch(/lost with 3 pipelined queries in flight; .*ECONNRESET/);
    }
    const second = rig.clients[1]!;
    expect(second.pending.map((w) => w.text)).toEqual(['SELECT 4']);
    second.answer();
    await flush();
    expect(waiting.status).toBe('resolved');
  });

  it('sends a query again, once, when a failed write proves it never left', async () => {
    const rig = await withLane({ max: 2 });
    const first = rig.clients[0]!;
    const query = track(rig.query('SELECT 1'));
    first.breakWith(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }));
    await flush();
    const second = rig.clients[1]!;
    expect(second.pending.map((w) => w.text)).toEqual(['SELECT 1']);
    second.answer();
    await flush();
    expect(query.status).toBe('resolved');
  });

  it('takes no query behind a head in service longer than slowQueryMillis', async () => {
    const rig = await withLane({ max: 2 }, { slowQueryMillis: 10 });
    const first = rig.clients[0]!;
    void rig.query('SELECT slow');
    await advance(5);
    void rig.query('SELECT fast 1'); // 5 ms: still fine, same lane
    expect(first.pending).toHaveLength(2);
    await advance(10);
    void rig.query('SELECT fast 2'); // 15 ms: the lane is held up, another one opens
    await flush();
    expect(first.pending).toHaveLength(2);
    expect(rig.clients[1]!.pending.map((w) => w.text)).toEqual(['SELECT fast 2']);
  });

  it('is found broken before anything more is written when pg has not told us yet', async () => {
    const rig = await withLane({ max: 2 });
    const first = rig.clients[0]!;
    first.stream.destroy(); // no 'error' yet
    const query = track(rig.query('SELECT 1'));
    await flush();
    expect(first.writes.map((w) => w.text)).toEqual(['SELECT 0']);
    rig.clients[1]!.answer();
    await flush();
    expect(query.status).toBe('resolved');
  });
});
