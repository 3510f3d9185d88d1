/**
 * A database that cannot be reached or refuses the login: the error the caller gets (class,
 * `code`, `message`), through connect() and pool.query(), promise and callback, and a pool
 * left with no dead client. lifeguard retries unreachable servers with backoff before it
 * fails; only when it fails differs, and a log has no timing.
 */
import type { Scenario } from './scenario.js';
import { describeScenarios } from './run-scenarios.js';
import { refusedUrl, unknownDatabaseUrl, useResettingServer, wrongPasswordUrl } from './servers.js';

const resettingUrl = useResettingServer();

/** The four ways a caller meets a connection error, against the server at `url()`. */
function connectionErrorScenarios(what: string, url: () => string | Promise<string>): Scenario[] {
  return [
    {
      name: `${what}: connect() rejects`,
      async run({ pool, rec }) {
        const p = pool({ connectionString: await url() });
        rec.listen(p);
        await rec.outcome('connect', p.connect());
        rec.counts('afterwards', p);
      },
    },
    {
      name: `${what}: connect() calls back with the error, no client, and a done function`,
      async run({ pool, rec }) {
        const p = pool({ connectionString: await url() });
        const callback = rec.callback('callback', ['err', 'client', 'done']);
        p.connect(callback.fn);
        await callback.called;
        rec.counts('afterwards', p);
      },
    },
    {
      name: `${what}: pool.query() rejects`,
      async run({ pool, rec }) {
        const p = pool({ connectionString: await url() });
        await rec.outcome('query', p.query('SELECT $1::text AS name', ['brianc']));
        rec.counts('afterwards', p);
      },
    },
    {
      name: `${what}: pool.query() calls back with the error and no result`,
      async run({ pool, rec }) {
        const p = pool({ connectionString: await url() });
        const callback = rec.callback('callback', ['err', 'result']);
        p.query('SELECT $1::text AS name', ['brianc'], callback.fn);
        await callback.called;
        rec.counts('afterwards', p);
      },
    },
  ];
}

describeScenarios('connection errors', [
  ...connectionErrorScenarios('connection refused', refusedUrl),
  ...connectionErrorScenarios('wrong password (28P01)', wrongPasswordUrl),
  ...connectionErrorScenarios('unknown database (3D000)', unknownDatabaseUrl),
  ...connectionErrorScenarios('connection reset during the handshake', resettingUrl),
  {
    name: 'connection reset: a queued caller gets its own error too (max 1)',
    async run({ pool, rec }) {
      const p = pool({ max: 1, connectionString: resettingUrl() });
      const first = rec.outcome('first connect', p.connect());
      const second = rec.outcome('second connect', p.connect());
      await Promise.all([first, second]);
      rec.counts('afterwards', p);
    },
  },
]);
