/**
 * Result equality: a query run under an automatic prepared statement gives exactly what the
 * unnamed statement gives (pg.Pool's way), on a matrix of types, NULLs, custom type parsers
 * and `rowMode: 'array'`, on both paths. Each query runs three times on the prepared pool, so
 * that the last two runs are under the statement (checked with the pool's counts).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';

import type { Pool } from '../../src/pg/index.js';
import { createPool } from './helpers.js';

interface Case {
  readonly text: string;
  readonly values: unknown[];
}

const cases: Case[] = [
  {
    text: 'SELECT $1::int AS i, $2::bigint AS b, $3::smallint AS s',
    values: [1, '9007199254740993', 3],
  },
  {
    text: 'SELECT $1::numeric AS n, $2::float8 AS f, $3::real AS r',
    values: ['12345.6789', 1.5, 2.25],
  },
  {
    text: 'SELECT $1::text AS t, $2::varchar AS v, $3::char(3) AS c',
    values: ['héllo', 'v', 'ab'],
  },
  { text: 'SELECT $1::bytea AS bin', values: [Buffer.from([0, 1, 2, 255])] },
  { text: 'SELECT $1::json AS j, $2::jsonb AS jb', values: ['{"a":[1,2]}', { b: { c: null } }] },
  {
    text: 'SELECT $1::int[] AS ints, $2::text[] AS texts',
    values: [
      [1, 2, null],
      ['a', 'b"c'],
    ],
  },
  {
    text: 'SELECT $1::timestamp AS ts, $2::timestamptz AS tz, $3::date AS d, $4::interval AS iv',
    values: [
      '2024-02-29 12:34:56.789',
      new Date(Date.UTC(2020, 0, 2, 3, 4, 5)),
      '2024-01-01',
      '1 day 02:03:04',
    ],
  },
  {
    text: 'SELECT $1::bool AS t, $2::bool AS f, $3::uuid AS u',
    values: [true, false, '6f1c7d2e-8d4b-4f5e-9a3b-2c1d0e9f8a7b'],
  },
  {
    text: 'SELECT $1::int AS a, $2::text AS b, $3::jsonb AS c, $4::int[] AS d',
    values: [null, null, null, null],
  },
  {
    text: 'SELECT g AS n, md5(g::text) AS h FROM generate_series(1, $1::int) AS g',
    values: [500],
  },
  {
    text: 'SELECT * FROM (VALUES (1, $1::text), (2, NULL)) AS t(id, label) WHERE id <= $2',
    values: ['x', 2],
  },
  { text: 'SELECT $1::int AS n WHERE false', values: [1] },
];

/** What a pg.Pool user can look at in a result. */
function observed(result: pg.QueryResult): unknown {
  return {
    command: result.command,
    rowCount: result.rowCount,
    oid: result.oid,
    rows: result.rows,
    fields: result.fields.map((f) => ({ ...f })),
  };
}

/** Runs `query` three times on `pool` and returns the last result. */
async function third(
  pool: Pool,
  query: pg.QueryConfig | string,
  values?: unknown[],
): Promise<unknown> {
  let result: pg.QueryResult | undefined;
  for (let i = 0; i < 3; i++) result = await pool.query(query as string, values);
  return observed(result!);
}

const customTypes = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (oid === 23) return (value: string) => `int:${value}`;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

describe.each([
  ['pipelined', {}],
  ['exclusive', { pipelineQueries: false }],
] as const)('prepared results equal unnamed ones (%s)', (_path, base) => {
  it.each(cases.map((c) => [c.text, c] as const))('%s', async (_text, { text, values }) => {
    const prepared = createPool({ ...base, max: 1 });
    const plain = createPool({ ...base, max: 1, prepareStatements: false });
    const expected = observed(await plain.query(text, values));
    expect(await third(prepared, text, values)).toEqual(expected);
    expect(await third(prepared, { text, values, rowMode: 'array' } as pg.QueryConfig)).toEqual(
      observed(await plain.query({ text, values, rowMode: 'array' } as pg.QueryConfig)),
    );
    expect(prepared.stats().preparedStatements!.hits).toBeGreaterThanOrEqual(3);
  });

  it('with a custom `types` parser in the config, and pool-wide', async () => {
    const text = 'SELECT $1::int AS n, $2::text AS t';
    const config = { text, values: [5, 'x'], types: customTypes };
    const prepared = createPool({ ...base, max: 1 });
    const plain = createPool({ ...base, max: 1, prepareStatements: false });
    const expected = observed(await plain.query(config));
    expect(expected).toMatchObject({ rows: [{ n: 'int:5', t: 'x' }] });
    expect(await third(prepared, config)).toEqual(expected);
    const poolWide = createPool({ ...base, max: 1, types: customTypes });
    const plainWide = createPool({ ...base, max: 1, types: customTypes, prepareStatements: false });
    expect(await third(poolWide, text, [5, 'x'])).toEqual(
      observed(await plainWide.query(text, [5, 'x'])),
    );
    expect(poolWide.stats().preparedStatements!.hits).toBeGreaterThanOrEqual(1);
  });

  it('queryMode: extended without values is prepared too, with the same result', async () => {
    const config = { text: 'SELECT 42 AS answer', queryMode: 'extended' } as pg.QueryConfig;
    const prepared = createPool({ ...base, max: 1 });
    const plain = createPool({ ...base, max: 1, prepareStatements: false });
    expect(await third(prepared, config)).toEqual(observed(await plain.query(config)));
    expect(prepared.stats().preparedStatements!.hits).toBeGreaterThanOrEqual(1);
  });
});
