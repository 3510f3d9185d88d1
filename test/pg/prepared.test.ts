/**
 * Automatic prepared statements (src/pg/prepared/): what is prepared and when, that results
 * are exactly what the unnamed statement gives, the bounded cache, and recovery when the
 * server loses or outdates a statement (DISCARD ALL, DDL). PgBouncer: prepared-pgbouncer.test.ts.
 */
import { describe, expect, it } from 'vitest';

import { InvalidOptionError } from '../../src/core/index.js';
import { Pool } from '../../src/pg/index.js';
import { createPool, databaseUrl, tableName } from './helpers.js';

const paths = [
  ['pipelined', {}],
  ['exclusive', { pipelineQueries: false }],
] as const;

/** The statements of the pool's one session (max 1): the query itself is simple protocol. */
async function statements(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'lg\\_%' ORDER BY statement",
  );
  return rows.map((row) => row.statement);
}

describe.each(paths)('automatic prepared statements (%s)', (_path, base) => {
  it('prepares a text from its second use on, once per connection, and then reuses it', async () => {
    const pool = createPool({ ...base, max: 1 });
    for (let i = 0; i < 5; i++) {
      expect((await pool.query('SELECT $1::int AS n', [i])).rows).toEqual([{ n: i }]);
    }
    expect(await statements(pool)).toEqual(['SELECT $1::int AS n']);
    expect(pool.stats().preparedStatements).toMatchObject({ enabled: true, prepared: 1, hits: 3 });
  });

  it('leaves queries without values (simple protocol), named ones and prepareStatements: false alone', async () => {
    const pool = createPool({ ...base, max: 1 });
    for (let i = 0; i < 3; i++) {
      await pool.query('SELECT 1 AS one');
      await pool.query({ text: 'SELECT $1::int AS mine', values: [i], name: 'mine' });
      await pool.query('SELECT 2 AS two', []);
    }
    expect(pool.stats().preparedStatements).toMatchObject({ prepared: 0, hits: 0 });
    const off = createPool({ ...base, max: 1, prepareStatements: false });
    for (let i = 0; i < 3; i++) await off.query('SELECT $1::int AS n', [i]);
    expect(await statements(off)).toEqual([]);
    expect(off.stats().preparedStatements).toBeUndefined();
  });

  it('keeps at most preparedStatementCacheSize statements per connection, closing the oldest', async () => {
    const pool = createPool({ ...base, max: 1, preparedStatementCacheSize: 3 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 8; i++) {
        const { rows } = await pool.query(`SELECT $1::int + ${i} AS n`, [round]);
        expect(rows).toEqual([{ n: round + i }]);
      }
    }
    expect((await statements(pool)).length).toBeLessThanOrEqual(3);
    const stats = pool.stats().preparedStatements!;
    expect(stats.evicted).toBeGreaterThan(0);
    expect(stats.retried).toBe(0);
  });

  it('re-prepares after DISCARD ALL run on a connect() client, with the right answers', async () => {
    const pool = createPool({ ...base, max: 1 });
    for (let i = 0; i < 3; i++) await pool.query('SELECT $1::int AS n', [i]);
    const client = await pool.connect();
    await client.query('DISCARD ALL');
    client.release();
    expect((await pool.query('SELECT $1::int AS n', [7])).rows).toEqual([{ n: 7 }]);
    expect((await pool.query('SELECT $1::int AS n', [8])).rows).toEqual([{ n: 8 }]);
    const stats = pool.stats().preparedStatements!;
    expect(stats.retried).toBe(1);
    // A direct session (its pid is the one it announced): not a pooler, so it stays on. The
    // pid check runs on the same (only) connection, before these queries are answered.
    for (let i = 0; i < 3; i++) await pool.query('SELECT $1::int AS n', [i]);
    expect(pool.stats().preparedStatements!.enabled).toBe(true);
    expect(await statements(pool)).toEqual(['SELECT $1::int AS n']);
    expect(pool.stats().preparedStatements!.prepared).toBe(2);
  });

  it('forgets its statements after the DISCARD ALL of resetOnRelease, without a failed query', async () => {
    const pool = createPool({ ...base, max: 1, resetOnRelease: 'DISCARD ALL' });
    for (let i = 0; i < 4; i++) {
      expect((await pool.query('SELECT $1::int AS n', [i])).rows).toEqual([{ n: i }]);
      await pool.query('SELECT pg_sleep(0)'); // lets the lane go back to the core and be reset
    }
    expect(pool.stats().preparedStatements!.retried).toBe(0);
  });

  it('survives DDL: a column added, then dropped, under the same query text', async () => {
    const table = tableName('prep_ddl');
    const pool = createPool({ ...base, max: 1 });
    await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY, a text)`);
    await pool.query(`INSERT INTO ${table} VALUES (1, 'x')`);
    const text = `SELECT * FROM ${table} WHERE id = $1`;
    for (let i = 0; i < 3; i++)
      expect((await pool.query(text, [1])).rows).toEqual([{ id: 1, a: 'x' }]);
    await pool.query(`ALTER TABLE ${table} ADD COLUMN b int DEFAULT 5`);
    expect((await pool.query(text, [1])).rows).toEqual([{ id: 1, a: 'x', b: 5 }]);
    expect((await pool.query(text, [1])).rows).toEqual([{ id: 1, a: 'x', b: 5 }]);
    await pool.query(`ALTER TABLE ${table} DROP COLUMN a`);
    const result = await pool.query(text, [1]);
    expect(result.rows).toEqual([{ id: 1, b: 5 }]);
    expect(result.fields.map((f) => f.name)).toEqual(['id', 'b']);
    expect(pool.stats().preparedStatements!.retried).toBeGreaterThanOrEqual(1);
    await pool.query(`DROP TABLE ${table}`);
  });

  it('a parameter pg cannot serialize fails that query alone; the statement works after', async () => {
    const pool = createPool({ ...base, max: 1 });
    for (let i = 0; i < 3; i++) await pool.query('SELECT $1::text AS t', [String(i)]);
    const bad = {
      toPostgres: () => {
        throw new Error('cannot serialize');
      },
    };
    await expect(pool.query('SELECT $1::text AS t', [bad])).rejects.toThrow('cannot serialize');
    expect((await pool.query('SELECT $1::text AS t', ['ok'])).rows).toEqual([{ t: 'ok' }]);
    expect((await pool.query('SELECT $1::text AS t', ['ok2'])).rows).toEqual([{ t: 'ok2' }]);
  });

  it('a SQL error under a statement is the same error as unnamed, and the statement stays', async () => {
    const pool = createPool({ ...base, max: 1 });
    const plain = createPool({ ...base, max: 1, prepareStatements: false });
    const text = 'SELECT 1 / $1::int AS q';
    for (let i = 1; i < 4; i++) await pool.query(text, [i]);
    const [named, unnamed] = await Promise.all(
      [pool, plain].map((p) =>
        p.query(text, [0]).then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    expect(named).toMatchObject({ code: '22012', message: (unnamed as Error).message });
    expect((await pool.query(text, [1])).rows).toEqual([{ q: 1 }]);
    expect(pool.stats().preparedStatements).toMatchObject({ prepared: 1, retried: 0 });
  });
});

describe('automatic prepared statements on a pipelined lane', () => {
  it('one Parse for a burst of the same text written back to back (no 42P05)', async () => {
    const pool = createPool({ max: 1 });
    await pool.query('SELECT $1::int AS n', [0]); // seen once: the next ones are prepared
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.query('SELECT $1::int AS n', [i])),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(pool.stats().preparedStatements).toMatchObject({ prepared: 1, hits: 199, retried: 0 });
  });

  it('DISCARD ALL under a deep lane: every query still answered right', async () => {
    const pool = createPool({ max: 1 });
    for (let i = 0; i < 3; i++) await pool.query('SELECT $1::int AS n', [i]);
    const client = await pool.connect();
    await client.query('DISCARD ALL');
    client.release();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => pool.query('SELECT $1::int AS n', [i])),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(pool.stats().preparedStatements!.retried).toBeGreaterThanOrEqual(1);
  });
});

describe('prepareStatements options', () => {
  it('rejects bad values with a clear error', () => {
    expect(
      () => new Pool({ connectionString: databaseUrl, prepareStatements: 'yes' as never }),
    ).toThrow(InvalidOptionError);
    expect(
      () => new Pool({ connectionString: databaseUrl, preparedStatementCacheSize: -1 }),
    ).toThrow(InvalidOptionError);
  });

  it('passes neither option to pg.Client', () => {
    const pool = createPool({ prepareStatements: true, preparedStatementCacheSize: 5 });
    expect(pool.stats().preparedStatements).toMatchObject({ enabled: true });
  });
});
