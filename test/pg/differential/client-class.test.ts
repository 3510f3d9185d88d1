/**
 * What the pool passes to its clients: the config (pg.Pool hands its whole config to each
 * Client), a custom `Client` class (promise or callback style `connect`), and pg's own
 * `pipeline` Client option.
 */
import pg from 'pg';

import { databaseUrl } from '../helpers.js';
import { CallbackOnlyClient } from './clients.js';
import { describeScenarios } from './run-scenarios.js';

describeScenarios('Client and client config', [
  {
    name: 'options are passed to each client (binary, application_name)',
    async run({ pool, rec }) {
      const p = pool({ binary: true, application_name: 'differential' });
      const client = await p.connect();
      rec.step('client.binary', (client as unknown as { binary: boolean }).binary);
      await rec.outcome('application_name', client.query('SHOW application_name'));
      client.release();
    },
  },
  {
    name: 'a custom Client class is constructed with the config, and handed out',
    async run({ pool, rec }) {
      const configs: pg.ClientConfig[] = [];
      class RecordingClient extends pg.Client {
        constructor(config: pg.ClientConfig) {
          super(config);
          configs.push(config);
        }
      }
      const p = pool({ Client: RecordingClient, someOrmKey: 'kept' });
      const client = await p.connect();
      rec.step('instanceof the class', client instanceof RecordingClient);
      rec.step('constructions', configs.length);
      rec.step('got the connectionString', configs[0]?.connectionString === databaseUrl);
      rec.step('got an unknown key', (configs[0] as Record<string, unknown>)['someOrmKey']);
      await rec.outcome('client query', client.query('SELECT 1 AS n'));
      client.release();
    },
  },
  {
    name: 'a Client whose connect() takes only a callback',
    async run({ pool, rec }) {
      const p = pool({ Client: CallbackOnlyClient });
      await rec.outcome('pool.query', p.query('SELECT 1 AS n'));
      const client = await rec.outcome('connect', p.connect());
      await rec.outcome('client query', client!.query('SELECT 2 AS n'));
      client!.release();
    },
  },
  {
    name: "pipeline: true is pg's Client option, passed to each client",
    async run({ pool, rec }) {
      const p = pool({ pipeline: true });
      const client = await p.connect();
      rec.step('client.pipeline', client.pipeline);
      const queries = [1, 2, 3].map((n) => client.query('SELECT $1::int AS num', [n]));
      rec.step(
        'rows',
        (await Promise.all(queries)).map((r) => r.rows),
      );
      client.release();
      await rec.outcome('pool.query', p.query('SELECT 4 AS num'));
    },
  },
  {
    name: 'without it, clients do not pipeline',
    async run({ pool, rec }) {
      const client = await pool().connect();
      rec.step('client.pipeline', client.pipeline);
      client.release();
    },
  },
]);
