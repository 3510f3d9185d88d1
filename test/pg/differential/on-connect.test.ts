/**
 * The onConnect hook: run once per new client before anyone uses it (awaited if async); if it
 * throws, the caller gets that error, the client is closed, and the next connect() works.
 */
import type pg from 'pg';

import { describeScenarios } from './run-scenarios.js';

/** How many times a hook ran on each client. */
class HookRuns {
  readonly #runs = new WeakMap<object, number>();
  count(client: object): void {
    this.#runs.set(client, this.of(client) + 1);
  }
  of(client: object): number {
    return this.#runs.get(client) ?? 0;
  }
}

describeScenarios('onConnect', [
  {
    name: 'runs once per new client, not again when the client is reused',
    async run({ pool, rec }) {
      const runs = new HookRuns();
      const p = pool({ onConnect: (client: pg.ClientBase) => runs.count(client) });
      const first = await p.connect();
      rec.step('runs on the first checkout', runs.of(first));
      first.release();
      const second = await p.connect();
      rec.step('same client', second === first);
      rec.step('runs on the second checkout', runs.of(second));
      second.release();
    },
  },
  {
    name: 'an async hook is awaited, and may run queries',
    async run({ pool, rec }) {
      const seen = new WeakMap<object, unknown>();
      const p = pool({
        onConnect: async (client: pg.ClientBase) => {
          seen.set(client, (await client.query('SELECT 1 AS num')).rows[0]);
        },
      });
      const client = await p.connect();
      rec.step('what the hook saw', seen.get(client));
      await rec.outcome('client query', client.query('SELECT 1 AS num'));
      client.release();
    },
  },
  {
    name: 'runs for a client opened by pool.query()',
    async run({ pool, rec }) {
      const runs = new HookRuns();
      const p = pool({ max: 1, onConnect: (client: pg.ClientBase) => runs.count(client) });
      await rec.outcome('query', p.query('SELECT $1::text AS name', ['brianc']));
      const client = await p.connect();
      rec.step('runs on the client pool.query() used', runs.of(client));
      client.release();
    },
  },
  {
    name: 'runs for each of two clients',
    async run({ pool, rec }) {
      let runs = 0;
      const p = pool({ max: 2, onConnect: () => void runs++ });
      const a = await p.connect();
      const b = await p.connect();
      rec.step('runs', runs);
      rec.step('two clients', a !== b);
      a.release();
      b.release();
    },
  },
  {
    name: 'a hook that throws: connect() rejects with that error, and no events',
    async run({ pool, rec }) {
      const p = pool({
        onConnect: () => {
          throw new Error('connect hook error');
        },
      });
      rec.listen(p);
      await rec.outcome('connect', p.connect());
      rec.counts('afterwards', p);
    },
  },
  {
    name: 'an async hook that rejects with a SQL error: connect() rejects with it',
    async run({ pool, rec }) {
      const p = pool({
        onConnect: async (client: pg.ClientBase) => {
          await client.query('SELECT INVALID HERE');
        },
      });
      await rec.outcome('connect', p.connect());
      rec.counts('afterwards', p);
    },
  },
  {
    name: 'a hook that throws through pool.query(): the query rejects with that error',
    async run({ pool, rec }) {
      const p = pool({
        onConnect: () => {
          throw new Error('connect hook error');
        },
      });
      await rec.outcome('query', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: 'after a hook error, the next connect() works',
    async run({ pool, rec }) {
      let fail = true;
      const p = pool({
        onConnect: () => {
          if (fail) throw new Error('connect hook error');
        },
      });
      await rec.outcome('failing connect', p.connect());
      fail = false;
      const client = await rec.outcome('next connect', p.connect());
      await rec.outcome('client query', client!.query('SELECT 1 AS num'));
      client!.release();
    },
  },
  {
    name: 'ten hook errors in a row: each caller gets it, nothing is left open, then it works',
    async run({ pool, rec }) {
      let failures = 0;
      const p = pool({
        max: 2,
        onConnect: () => {
          if (failures < 10) {
            failures++;
            throw new Error('connect hook error');
          }
        },
      });
      for (let i = 0; i < 10; i++) await rec.outcome(`connect ${i}`, p.connect());
      rec.counts('after ten failures', p);
      const a = await rec.outcome('connect a', p.connect());
      const b = await rec.outcome('connect b', p.connect());
      rec.counts('with two clients', p);
      a?.release();
      b?.release();
    },
  },
]);
