/**
 * The query channels of lifeguard/pg on a real server: a start and an end per pool.query(),
 * sharing one object, with the text but never the values.
 */
import * as diagnosticsChannel from 'node:diagnostics_channel';

import { afterEach, describe, expect, it } from 'vitest';

import { channels } from '../../src/index.js';
import { createPool } from './helpers.js';

type Seen = { channel: string; message: Record<string, unknown> };
const subscriptions: (() => void)[] = [];
afterEach(() => {
  for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
});

function subscribe(...names: string[]): Seen[] {
  const seen: Seen[] = [];
  for (const name of names) {
    const listener = (message: unknown): void => {
      seen.push({ channel: name, message: { ...(message as Record<string, unknown>) } });
    };
    diagnosticsChannel.subscribe(name, listener);
    subscriptions.push(() => diagnosticsChannel.unsubscribe(name, listener));
  }
  return seen;
}

describe.each([true, false])('query channels (pipelineQueries: %s)', (pipelineQueries) => {
  it('publishes a start and an end for every query, with rowCount or the error', async () => {
    const pool = createPool({ name: 'api', pipelineQueries });
    const seen = subscribe(channels.queryStart, channels.queryEnd);
    const secret = 'value-that-must-not-be-published';
    await pool.query('SELECT $1::text AS v', [secret]);
    await pool.query('SELECT 1/0').catch(() => undefined);
    await pool.query({ text: 'SELECT generate_series(1, 3)' });

    expect(seen.map((s) => s.channel)).toEqual([
      channels.queryStart,
      channels.queryEnd,
      channels.queryStart,
      channels.queryEnd,
      channels.queryStart,
      channels.queryEnd,
    ]);
    const ends = seen.filter((s) => s.channel === channels.queryEnd).map((s) => s.message);
    expect(ends[0]).toMatchObject({ name: 'api', text: 'SELECT $1::text AS v', rowCount: 1 });
    expect((ends[1]!['error'] as { code: string }).code).toBe('22012');
    expect(ends[2]).toMatchObject({ text: 'SELECT generate_series(1, 3)', rowCount: 3 });
    for (const end of ends) {
      expect(end['pool']).toBe(pool);
      expect(typeof end['durationMillis']).toBe('number');
    }
    expect(JSON.stringify(seen.map((s) => ({ ...s.message, pool: undefined })))).not.toContain(
      secret,
    );
  });

  it('hands the caller the same result whether or not anyone listens', async () => {
    const pool = createPool({ pipelineQueries });
    const plain = await pool.query<{ n: number }>('SELECT 41 + 1 AS n');
    subscribe(channels.queryEnd);
    const traced = await pool.query<{ n: number }>('SELECT 41 + 1 AS n');
    expect(traced.rows).toEqual(plain.rows);
    const error = await pool.query('SELECT nope').catch((e: unknown) => e);
    expect((error as { code: string }).code).toBe('42703');
  });
});
