/**
 * maxLifetimeSeconds: a client older than this is removed once it is idle (at once if it is
 * idle when its time comes, on release if it is checked out), even at `min`. The shortest
 * lifetime pg.Pool accepts is 1 s, and lifeguard adds up to 10% jitter, so every removal is
 * waited for as an event.
 */
import { describeScenarios } from './run-scenarios.js';
import { until } from './waits.js';

/** Each run waits out at least one lifetime, twice per test. */
const kTimeoutMillis = 180_000;

describeScenarios('maxLifetimeSeconds', [
  {
    name: 'an idle client is removed when its lifetime ends',
    pipelining: 'off',
    timeoutMillis: kTimeoutMillis,
    async run({ pool, rec }) {
      const p = pool({ maxLifetimeSeconds: 1 });
      rec.listen(p, ['remove']);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      await rec.outcome('query', p.query('SELECT 1 AS n'));
      await removed;
      rec.step('expiredCount after', p.expiredCount);
    },
  },
  {
    name: 'a client busy past its lifetime is removed once its query is done',
    pipelining: 'off',
    timeoutMillis: kTimeoutMillis,
    async run({ pool, rec }) {
      const p = pool({ maxLifetimeSeconds: 1 });
      rec.listen(p, ['remove']);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      const query = p.query('SELECT pg_sleep(1.4)');
      rec.counts('while the query runs', p);
      await rec.outcome('query', query);
      await removed;
      await rec.outcome('a new client for the next query', p.query('SELECT 1 AS n'));
      rec.counts('after the next query', p);
    },
  },
  {
    name: 'a checked-out client past its lifetime counts as expired, and is removed on release',
    timeoutMillis: kTimeoutMillis,
    async run({ pool, rec }) {
      const p = pool({ maxLifetimeSeconds: 1 });
      rec.listen(p, ['remove']);
      const client = await p.connect();
      rec.step('expiredCount at first', p.expiredCount);
      rec.step('expiredCount becomes 1', await until(() => p.expiredCount === 1));
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      client.release();
      await removed;
      rec.step('expiredCount after', p.expiredCount);
    },
  },
  {
    name: 'events around the expiry of an idle client',
    deliberate: {
      reason:
        "lifeguard emits 'acquire' and 'release' for checkouts only; pg.Pool also emits them when it takes an idle client out to retire it, see docs/compat.md#lifetime-events",
      differences: [
        {
          pgPool: [
            { event: 'acquire', args: ['c1'] },
            { event: 'release', args: [undefined, 'c1'] },
            { event: 'remove', args: ['c1'] },
          ],
          lifeguard: [{ event: 'remove', args: ['c1'] }],
        },
      ],
    },
    timeoutMillis: kTimeoutMillis,
    async run({ pool, rec }) {
      const p = pool({ maxLifetimeSeconds: 1 });
      rec.listen(p);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      (await p.connect()).release();
      await removed;
    },
  },
  {
    name: 'at min (max 1, min 1): an expired client is still removed',
    timeoutMillis: kTimeoutMillis,
    async run({ pool, rec }) {
      const p = pool({ max: 1, min: 1, idleTimeoutMillis: 10, maxLifetimeSeconds: 1 });
      rec.listen(p, ['remove']);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      (await p.connect()).release();
      await removed;
    },
  },
]);
