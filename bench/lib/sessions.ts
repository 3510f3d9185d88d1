import type pg from 'pg';

import { sleep } from './call-tracker.js';

/**
 * Counts the server sessions of one `application_name` every 50 ms from a side connection,
 * until `stop()`, which resolves to every count taken (off the measured path).
 */
export function sampleSessions(
  admin: pg.Client,
  applicationName: string,
): { stop: () => Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      samples.push(rows[0]?.n ?? 0);
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}
