/**
 * maxUses: a client is removed when it is released for the maxUses-th time, even at `min`, and
 * a caller waiting for it gets a new one.
 */
import { describeScenarios } from './run-scenarios.js';
import { quietPeriod } from './waits.js';

describeScenarios('maxUses', [
  {
    name: 'maxUses 2: the second checkout is the same client, and its release removes it',
    async run({ pool, rec }) {
      const p = pool({ maxUses: 2 });
      rec.listen(p);
      const first = await p.connect();
      first.release();
      const second = await p.connect();
      rec.step('second is the first', second === first);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      second.release();
      rec.counts('right after the second release', p);
      await removed;
      const third = await rec.outcome('third connect', p.connect());
      third?.release();
    },
  },
  {
    name: 'a waiting caller gets a new client when the one released is used up',
    async run({ pool, rec }) {
      const p = pool({ max: 1, maxUses: 2 });
      rec.listen(p);
      const first = await p.connect();
      const second = p.connect().then((client) => {
        rec.step('second', client);
        rec.counts('when the second has it', p);
        client.release();
      });
      const third = p.connect().then((client) => {
        rec.step('third', client);
        rec.counts('when the third has it', p);
        client.release();
      });
      rec.counts('two waiting', p);
      first.release();
      await Promise.all([second, third]);
    },
  },
  {
    name: 'pool.query() with maxUses 2 and max 1: a new client every two queries',
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool({ max: 1, maxUses: 2 });
      rec.listen(p);
      for (let i = 0; i < 3; i++) await rec.outcome(`query ${i}`, p.query('SELECT 1 AS n'));
    },
  },
  {
    name: 'at min (max 1, min 1): a client used up is still removed, and not replaced',
    async run({ pool, rec }) {
      const p = pool({ max: 1, min: 1, idleTimeoutMillis: 10, maxUses: 1 });
      rec.listen(p);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      (await p.connect()).release();
      await removed;
      await quietPeriod(300);
      rec.counts('after a quiet period', p);
    },
  },
]);
