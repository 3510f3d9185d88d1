/**
 * Half-open connections found by TCP keepalive, on a real network path that is cut (a veth
 * link taken down, test/support/netns.ts): the peer vanishes without a FIN or RST, and nothing
 * answers any more, keepalive probes included. With no query or statement timeout at all, a
 * query waiting on such a connection must still fail, typed, within the keepalive time
 * (`keepAliveInitialDelayMillis` of silence, then libuv's 10 probes a second apart), and the
 * pool must serve again once the path is back.
 */
import { describe, expect, it } from 'vitest';

import { PgConnectionLostError } from '../../src/pg/index.js';
import { netnsUnavailable, startCuttablePath } from '../support/netns.js';
import { targetOf } from '../support/tcp-proxy.js';
import { createPool, databaseUrl } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(netnsUnavailable !== undefined)(
  `keepalive on a cut network path${netnsUnavailable ? ` (skipped: ${netnsUnavailable})` : ''}`,
  () => {
    it('fails a query in flight within the keepalive time, typed, and recovers once the path is back', async () => {
      const path = await startCuttablePath(targetOf(databaseUrl));
      try {
        const url = new URL(databaseUrl);
        url.hostname = path.host;
        url.port = String(path.port);
        const pool = createPool({ max: 2, keepAliveInitialDelayMillis: 1_000 }, url.toString());
        expect((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n).toBe(1);

        const inFlight = pool.query('SELECT pg_sleep(30)').catch((e: unknown) => e);
        await sleep(300); // written and running on the server
        const cutAt = performance.now();
        path.cut();
        const error = await inFlight;
        const detectedIn = performance.now() - cutAt;

        expect(error).toBeInstanceOf(PgConnectionLostError);
        expect(error).toMatchObject({
          code: 'ERR_PG_CONNECTION_LOST',
          mayHaveRun: true,
          errno: 'ETIMEDOUT',
        });
        // 1 s of silence, then 10 probes 1 s apart: about 11 s. Far from the kernel's 2 h.
        expect(detectedIn).toBeGreaterThan(5_000);
        expect(detectedIn).toBeLessThan(25_000);

        path.restore();
        expect((await pool.query<{ n: number }>('SELECT 2 AS n')).rows[0]!.n).toBe(2);
        expect(pool.stats().destroys.error).toBeGreaterThanOrEqual(1);
      } finally {
        await path.close();
      }
    }, 60_000);
  },
);
