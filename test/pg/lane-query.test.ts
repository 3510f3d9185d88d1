/**
 * Lanes hand pg a `LaneQuery` that reuses row templates per statement (src/pg/pipeline/
 * lane-query.ts). Its results must be exactly pg's: every query here runs through pg.Pool and
 * through pipelined lifeguard/pg, and rows, fields, rowCount, command and the row mode are
 * compared, on a wide matrix of types with and without NULLs, large rows, custom parsers
 * (pool-wide, per query, and changed between two runs of one text), `rowMode: 'array'`, and
 * a table whose columns change under the same text. pg's `Result#addFields` is counted to
 * prove the reuse really happens (it would pass trivially if every query missed).
 *
 * A named statement the lane's connection has described is sent without a Describe
 * (src/pg/pipeline/descriptions.ts): Describe messages are counted, each result must get field
 * objects of its own, a column changing type must show in the answer, and the one declared
 * difference (a table created again with the same columns keeps its old table id) is pinned.
 */
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { Descriptions } from '../../src/pg/pipeline/descriptions.js';
import { LaneQuery, RowShapes } from '../../src/pg/pipeline/lane-query.js';

import { adminClient, createPool, databaseUrl, tableName } from './helpers.js';

/** pg's Result class (exported by pg, not in @types/pg). */
const Result = (pg as unknown as { Result: { prototype: { addFields(fields: unknown): void } } })
  .Result;

/** Every scalar type a pg user commonly reads, in text format, with a NULL of each. */
const kTypeMatrix = `
  SELECT $1::int AS n,
    1::int2 AS i2, 2147483647::int4 AS i4, 9007199254740993::int8 AS i8,
    12345.678901234567890::numeric AS num, 1.5::float4 AS f4, 2.25::float8 AS f8,
    'txt'::text AS t, 'v'::varchar(3) AS vc, 'c'::char(2) AS ch, 'é ✓ 𝄞'::text AS utf,
    true AS b, '\\x00ff10'::bytea AS by, '{"a":[1,2]}'::json AS j, '{"b":null}'::jsonb AS jb,
    '2024-02-29'::date AS d, '2024-02-29 12:34:56.789'::timestamp AS ts,
    '2024-02-29 12:34:56.789+02'::timestamptz AS tstz, '1 day 02:03:04'::interval AS iv,
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '{1,NULL,3}'::int[] AS ia,
    '{"x","y z"}'::text[] AS ta, '(1,2)'::point AS pt, '10.0.0.1/8'::inet AS ip,
    NULL::int AS n_int, NULL::text AS n_text, NULL::jsonb AS n_jsonb, NULL::int[] AS n_arr,
    NULL::timestamptz AS n_ts, NULL::bytea AS n_bytea`;

/** The parts of a result a user can observe. */
function observed(result: pg.QueryResult) {
  return {
    rows: result.rows,
    fields: result.fields,
    rowCount: result.rowCount,
    command: result.command,
    oid: result.oid,
    rowAsArray: (result as unknown as { rowAsArray: boolean }).rowAsArray,
  };
}

type Config = pg.QueryConfig | pg.QueryArrayConfig | string;

/**
 * Runs each query through pg.Pool one by one, then through lifeguard/pg all at once (one lane,
 * so a text's later runs find the shape its first run left), and compares.
 */
async function compare(
  queries: readonly { query: Config; values?: unknown[] }[],
  poolOptions: pg.PoolConfig = {},
): Promise<void> {
  const reference = new pg.Pool({ connectionString: databaseUrl, max: 1, ...poolOptions });
  const expected: unknown[] = [];
  try {
    for (const { query, values } of queries) {
      expected.push(observed(await reference.query(query as string, values)));
    }
  } finally {
    await reference.end();
  }
  const pool = createPool({ max: 1, ...(poolOptions as object) });
  const actual = await Promise.all(
    queries.map(async ({ query, values }) => observed(await pool.query(query as string, values))),
  );
  expect(actual).toEqual(expected);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('LaneQuery results are pg results', () => {
  it('match pg.Pool on every common type, NULLs included, and reuse the row shape', async () => {
    const addFields = vi.spyOn(Result.prototype, 'addFields');
    const queries = Array.from({ length: 20 }, (_, i) => ({ query: kTypeMatrix, values: [i] }));
    await compare(queries);
    // pg.Pool ran addFields once per query (20); the lane once for its first run only.
    expect(addFields).toHaveBeenCalledTimes(20 + 1);
  });

  it('match on large rows and many rows', async () => {
    const big = {
      query: "SELECT $1::int AS n, repeat('x', 1000000) AS big, g FROM generate_series(1, 50) g",
      values: [7],
    };
    await compare([big, big, big]);
  });

  it("match with rowMode 'array' beside object rows of the same text", async () => {
    const text = 'SELECT $1::int AS a, $1::text AS b, NULL::int AS c';
    await compare([
      { query: text, values: [1] },
      { query: { text, rowMode: 'array' }, values: [2] },
      { query: text, values: [3] },
      { query: { text, rowMode: 'array' }, values: [4] },
    ]);
  });

  it('match for config objects: values inside or apart, a name, binary results, both modes', async () => {
    const text = 'SELECT $1::int AS a, $1::text AS b, $1::int8 AS c';
    await compare([
      { query: { text, values: [1] } },
      { query: { text }, values: [2] },
      { query: { text, values: [0] }, values: [3] },
      { query: { text, values: [4], name: 'lane_query_named' } },
      { query: { text, values: [5], name: 'lane_query_named' } },
      { query: { text, values: [6], binary: true } as pg.QueryConfig },
      { query: { text, values: [7], rowMode: 'array' } as pg.QueryConfig },
      { query: { text, values: [8], queryMode: 'extended' } as pg.QueryConfig },
      { query: { text: 'SELECT 1 AS one', queryMode: 'extended' } as pg.QueryConfig },
      {
        query: Object.assign(Object.create({ text }) as object, { values: [9] }) as pg.QueryConfig,
      },
    ]);
  });

  it('match with a pool-wide custom type parser', async () => {
    const types = {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === 23 ? (value: string) => `int:${value}` : pg.types.getTypeParser(oid, format),
    };
    const text = 'SELECT $1::int AS n, $1::text AS t';
    await compare(
      Array.from({ length: 4 }, (_, i) => ({ query: text, values: [i] })),
      { types },
    );
  });

  it('apply per-query types to a text whose shape is remembered without them', async () => {
    const text = 'SELECT $1::int AS n';
    const types = { getTypeParser: () => (value: string) => `custom:${value}` };
    await compare([
      { query: text, values: [1] },
      { query: { text, types } as pg.QueryConfig, values: [2] },
      { query: text, values: [3] },
    ]);
  });

  it('follow pg.types.setTypeParser between two runs of one text', async () => {
    const pool = createPool({ max: 1 });
    const text = 'SELECT $1::int8 AS n';
    const before = await pool.query<{ n: unknown }>(text, ['5']);
    const original = pg.types.getTypeParser(20, 'text');
    pg.types.setTypeParser(20, (value: string) => BigInt(value));
    try {
      const after = await pool.query<{ n: unknown }>(text, ['5']);
      expect(before.rows[0]!.n).toBe('5');
      expect(after.rows[0]!.n).toBe(5n);
    } finally {
      pg.types.setTypeParser(20, original as (value: string) => unknown);
    }
  });

  it('follow a table whose columns change under the same text', async () => {
    const admin = await adminClient();
    const table = tableName('lane_query');
    await admin.query(`CREATE TABLE ${table} (a int, b text)`);
    try {
      const pool = createPool({ max: 1 });
      const text = `SELECT * FROM ${table} WHERE a = $1`;
      await admin.query(`INSERT INTO ${table} VALUES (1, 'one')`);
      const first = await pool.query(text, [1]);
      await admin.query(`ALTER TABLE ${table} ADD COLUMN c int DEFAULT 3`);
      const second = await pool.query(text, [1]);
      await admin.query(`ALTER TABLE ${table} DROP COLUMN b`);
      const third = await pool.query(text, [1]);
      expect(first.rows).toEqual([{ a: 1, b: 'one' }]);
      expect(second.rows).toEqual([{ a: 1, b: 'one', c: 3 }]);
      expect(third.rows).toEqual([{ a: 1, c: 3 }]);
      expect(third.fields.map((field) => field.name)).toEqual(['a', 'c']);
    } finally {
      await admin.query(`DROP TABLE ${table}`);
    }
  });
});

describe('LaneQuery from a statement config', () => {
  it('is pg Query under the statement name, with text and values as given', () => {
    const shapes = new RowShapes();
    const config = { text: 'SELECT $1::int AS n', name: 'lg_test_1' };
    const query = new LaneQuery(
      config,
      [5],
      () => undefined,
      shapes,
      new Descriptions(),
    ) as unknown as {
      text: string;
      name: string;
      values: unknown[];
      requiresPreparation(): boolean;
    };
    expect(query).toBeInstanceOf(pg.Query);
    expect(query.name).toBe('lg_test_1');
    expect(query.text).toBe('SELECT $1::int AS n');
    expect(query.values).toEqual([5]);
    expect(query.requiresPreparation()).toBe(true);
  });

  it('runs under its name on a real connection, the statement kept by the server', async () => {
    const pool = createPool({ max: 1 });
    const text = 'SELECT $1::int AS lane_named';
    for (let i = 0; i < 3; i++)
      expect((await pool.query(text, [i])).rows).toEqual([{ lane_named: i }]);
    const { rows } = await pool.query(
      "SELECT name FROM pg_prepared_statements WHERE statement = 'SELECT $1::int AS lane_named'",
    );
    expect(rows).toHaveLength(1);
    expect((rows[0] as { name: string }).name).toMatch(/^lg_/);
  });
});

describe('LaneQuery describes a statement once per connection', () => {
  /** pg's Connection class (exported by pg, not typed in @types/pg). */
  const Connection = (
    pg as unknown as { Connection: { prototype: { describe(m: unknown): void } } }
  ).Connection;

  it('sends no Describe once the connection has described the named statement', async () => {
    const text = 'SELECT $1::int AS n, $1::text AS t';
    const counts: number[] = [];
    for (const prepareStatements of ['auto', false] as const) {
      const describe = vi.spyOn(Connection.prototype, 'describe');
      const pool = createPool({ max: 1, prepareStatements });
      for (let i = 0; i < 10; i++) {
        expect((await pool.query(text, [i])).rows).toEqual([{ n: i, t: String(i) }]);
      }
      counts.push(describe.mock.calls.length);
      describe.mockRestore();
    }
    // auto: the first run (unnamed) and the first under the name (with its Parse); unprepared:
    // every run.
    expect(counts).toEqual([2, 10]);
  });

  it('answers in the new type after a column changes type under a statement it skips describing', async () => {
    const admin = await adminClient();
    const table = tableName('lane_retype');
    await admin.query(`CREATE TABLE ${table} (a int)`);
    await admin.query(`INSERT INTO ${table} VALUES (1)`);
    try {
      const pool = createPool({ max: 1 });
      const text = `SELECT a FROM ${table} WHERE a = $1`;
      for (let i = 0; i < 4; i++) expect((await pool.query(text, [1])).rows).toEqual([{ a: 1 }]);
      await admin.query(`ALTER TABLE ${table} ALTER COLUMN a TYPE bigint`);
      const after = await pool.query(text, [1]);
      expect(after.rows).toEqual([{ a: '1' }]); // int8 is parsed to a string by default
      expect(after.fields[0]!.dataTypeID).toBe(20);
      expect((await pool.query(text, [1])).rows).toEqual([{ a: '1' }]);
    } finally {
      await admin.query(`DROP TABLE ${table}`);
    }
  });

  it('gives every result fields of its own', async () => {
    const pool = createPool({ max: 1 });
    const text = 'SELECT $1::int AS n';
    for (let i = 0; i < 3; i++) await pool.query(text, [i]);
    const first = await pool.query(text, [1]);
    first.fields[0]!.name = 'changed';
    const second = await pool.query(text, [2]);
    expect(second.fields[0]!.name).toBe('n');
    expect(second.rows).toEqual([{ n: 2 }]);
  });

  it('keeps its copy of a description apart from the described result', async () => {
    const pool = createPool({ max: 1 });
    const text = 'SELECT $1::int AS n';
    await pool.query(text, [0]); // first use: unnamed
    const described = await pool.query(text, [1]); // prepared and described
    described.fields[0]!.name = 'changed';
    const next = await pool.query(text, [2]); // sent without Describe
    expect(next.fields[0]!.name).toBe('n');
    expect(next.rows).toEqual([{ n: 2 }]);
  });

  it('keeps the described table id when a table is created again with the same columns (compat.md)', async () => {
    const admin = await adminClient();
    const table = tableName('lane_describe');
    const oidOf = async (): Promise<number> =>
      Number((await admin.query(`SELECT '${table}'::regclass::oid AS oid`)).rows[0].oid);
    await admin.query(`CREATE TABLE ${table} (a int)`);
    try {
      const pool = createPool({ max: 1 });
      const text = `SELECT a FROM ${table} WHERE a = $1 OR $1 IS NULL`;
      for (let i = 0; i < 3; i++) await pool.query(text, [1]);
      const before = await oidOf();
      expect((await pool.query(text, [1])).fields[0]!.tableID).toBe(before);
      await admin.query(`DROP TABLE ${table}; CREATE TABLE ${table} (a int)`);
      const after = await oidOf();
      expect(after).not.toBe(before);
      const reference = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      try {
        expect((await reference.query(text, [1])).fields[0]!.tableID).toBe(after);
      } finally {
        await reference.end();
      }
      // The statement still runs (same columns: no 0A000), and its fields are the described ones.
      const again = await pool.query(text, [1]);
      expect(again.rows).toEqual([]);
      expect(again.fields[0]!.tableID).toBe(before);
    } finally {
      await admin.query(`DROP TABLE ${table}`);
    }
  });
});
