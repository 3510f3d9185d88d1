import type pg from 'pg';

import { sleep } from './call-tracker.js';

/** The server sessions of one `application_name` now. */
export async function countSessions(admin: pg.Client, applicationName: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  );
  return rows[0]?.n ?? 0;
}

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
      samples.push(await countSessions(admin, applicationName));
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
