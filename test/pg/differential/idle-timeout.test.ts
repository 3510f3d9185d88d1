/**
 * idleTimeoutMillis and min: an idle client above `min` is removed when its time is up, even
 * after a few ms; `remove` comes with the counts already updated; `min` is a floor for that
 * removal, not a number of connections opened in advance. Each removal is waited for as an
 * event; only "nothing is removed" needs a quiet period.
 */
import { describeScenarios } from './run-scenarios.js';
import { quietPeriod } from './waits.js';

/** Many times any idle timeout used here: long enough for a wrong removal to happen. */
const kQuietMillis = 300;

describeScenarios('idleTimeoutMillis and min', [
  {
    name: 'a client idle for idleTimeoutMillis (10 ms) after pool.query() is removed',
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool({ idleTimeoutMillis: 10 });
      rec.listen(p);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      await rec.outcome('query', p.query('SELECT 1 AS n'));
      await removed;
    },
  },
  {
    name: 'an idle client times out while another is removed by release(err)',
    async run({ pool, rec }) {
      const p = pool({ idleTimeoutMillis: 10 });
      const a = await p.connect();
      const b = await p.connect();
      const aRemoved = rec.countsAtEvent('counts when A is removed', p, 'remove', (c) => c === a);
      a.release();
      b.release(new Error('gone'));
      await aRemoved;
    },
  },
  {
    name: 'idleTimeoutMillis 1: removed after each query, and opened again for the next',
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool({ idleTimeoutMillis: 1 });
      for (let i = 0; i < 5; i++) {
        const removed = rec.countsAtEvent(`counts at remove ${i}`, p, 'remove');
        const query = p.query('SELECT $1::int AS i', [i]);
        rec.counts(`while query ${i} runs`, p);
        await rec.outcome(`query ${i}`, query);
        await removed;
      }
    },
  },
  {
    name: 'a checked-out client is not timed out, however long it is held',
    async run({ pool, rec }) {
      const p = pool({ idleTimeoutMillis: 1 });
      rec.listen(p, ['remove']);
      for (let i = 0; i < 3; i++) {
        const client = await p.connect();
        rec.counts(`while held ${i}`, p);
        await quietPeriod(20);
        await rec.outcome(`query ${i}`, client.query('SELECT 1 AS n'));
        client.release();
        rec.counts(`right after release ${i}`, p);
      }
    },
  },
  {
    name: 'at min (max 1, min 1): the idle client is kept',
    async run({ pool, rec }) {
      const p = pool({ max: 1, min: 1, idleTimeoutMillis: 10 });
      rec.listen(p, ['remove']);
      (await p.connect()).release();
      await quietPeriod(kQuietMillis);
      rec.counts('after a quiet period', p);
    },
  },
  {
    name: 'at min (max 2, min 2): both idle clients are kept',
    async run({ pool, rec }) {
      const p = pool({ max: 2, min: 2, idleTimeoutMillis: 10 });
      rec.listen(p, ['remove']);
      const a = await p.connect();
      const b = await p.connect();
      a.release();
      await quietPeriod(kQuietMillis);
      b.release();
      await quietPeriod(kQuietMillis);
      rec.counts('after quiet periods', p);
    },
  },
  {
    name: 'above min (max 2, min 1): the first released is removed, the second kept',
    async run({ pool, rec }) {
      const p = pool({ max: 2, min: 1, idleTimeoutMillis: 10 });
      const a = await p.connect();
      const b = await p.connect();
      rec.listen(p, ['remove']);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      a.release();
      await removed;
      b.release();
      await quietPeriod(kQuietMillis);
      rec.counts('after a quiet period', p);
    },
  },
  {
    name: 'two released at once above min 1: one is removed, the pool stays at min',
    async run({ pool, rec }) {
      const p = pool({ max: 2, min: 1, idleTimeoutMillis: 10 });
      const a = await p.connect();
      const b = await p.connect();
      const tally = rec.tally(p, ['remove']);
      const removed = rec.countsAtEvent('counts at the first remove', p, 'remove');
      a.release();
      b.release();
      await removed;
      await quietPeriod(kQuietMillis);
      tally.record('removals');
      rec.counts('after a quiet period', p);
    },
  },
  {
    name: 'idleTimeoutMillis 0 keeps idle clients',
    async run({ pool, rec }) {
      const p = pool({ idleTimeoutMillis: 0 });
      rec.listen(p, ['remove']);
      (await p.connect()).release();
      await quietPeriod(kQuietMillis);
      rec.counts('after a quiet period', p);
    },
  },
  {
    name: 'min is not opened in advance',
    async run({ pool, rec }) {
      const p = pool({ min: 2 });
      rec.listen(p);
      rec.counts('right after the constructor', p);
      await quietPeriod(kQuietMillis);
      rec.counts('after a quiet period', p);
    },
  },
]);
