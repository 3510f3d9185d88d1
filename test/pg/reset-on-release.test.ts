/**
 * `resetOnRelease`: the session a connection comes back with is reset before the next caller
 * gets it; a connection that cannot be brought back clean (inside a transaction, a failed
 * reset) is destroyed, never handed on.
 */
import { describe, expect, it } from 'vitest';

import { backendPid, createPool } from './helpers.js';

const kReset = 'SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL';

describe('resetOnRelease', () => {
  it('runs the reset string on release, then re-applies the pool SETs', async () => {
    const pool = createPool({ max: 1, resetOnRelease: kReset, statementTimeout: 1234 });
    const first = await pool.connect();
    const pid = await backendPid(first);
    await first.query('SET work_mem = 12345');
    first.release();
    const second = await pool.connect();
    expect(await backendPid(second)).toBe(pid);
    const { rows } = await second.query<{ wm: string; st: string }>(
      "SELECT current_setting('work_mem') AS wm, current_setting('statement_timeout') AS st",
    );
    expect(rows[0]!.wm).not.toBe('12345kB');
    expect(rows[0]!.st).toBe('1234ms');
    second.release();
  });

  it('clears pg’s record of prepared statements when the reset deallocates them', async () => {
    const pool = createPool({ max: 1, resetOnRelease: kReset, pipelineQueries: false });
    const query = { name: 'reset_stmt', text: 'SELECT 1 AS n' };
    expect((await pool.query(query)).rows).toEqual([{ n: 1 }]);
    // Without forgetting it, pg would send Bind for a statement the server no longer has.
    expect((await pool.query(query)).rows).toEqual([{ n: 1 }]);
  });

  it('destroys a connection released inside a transaction instead of rolling it back', async () => {
    const pool = createPool({ max: 1, resetOnRelease: kReset });
    const first = await pool.connect();
    const pid = await backendPid(first);
    await first.query('BEGIN');
    first.release();
    const second = await pool.connect();
    expect(await backendPid(second)).not.toBe(pid);
    second.release();
  });

  it('destroys a connection whose reset fails', async () => {
    let resets = 0;
    const pool = createPool({
      max: 1,
      resetOnRelease: async (client) => {
        const first = ++resets === 1;
        await client.query('RESET ALL');
        if (first) throw new Error('reset failed');
      },
    });
    const first = await pool.connect();
    const pid = await backendPid(first);
    first.release();
    const second = await pool.connect();
    expect(await backendPid(second)).not.toBe(pid);
    second.release();
  });

  it('rejects an empty reset string', () => {
    expect(() => createPool({ resetOnRelease: ' ' })).toThrow(/resetOnRelease/);
  });
});
