/**
 * Which `pool.query()` calls may share a pipelined connection (src/pg/pipeline/pipelinable.ts). Pure:
 * no database.
 */
import { describe, expect, it } from 'vitest';

import { isPipelinable } from '../../src/pg/pipeline/pipelinable.js';

describe('pipelinable queries', () => {
  it.each([
    ['SELECT 1', undefined],
    ['  select $1::int', [1]],
    ['\n\tWITH x AS (SELECT 1) SELECT * FROM x', undefined],
    ['INSERT INTO t VALUES ($1)', [1]],
    ['UPDATE t SET a = 1', undefined],
    ['DELETE FROM t WHERE id = $1', [1]],
    ['VALUES (1), (2)', undefined],
    ['TABLE t', undefined],
    ['SHOW statement_timeout', undefined],
    ['EXPLAIN SELECT 1', undefined],
    ['SELECT 1;', undefined],
    ['SELECT 1;  \n', undefined],
    ['select*from t', undefined],
  ])('pipelines %j', (text, values) => {
    expect(isPipelinable(text, values)).toBe(true);
  });

  it.each([
    ['BEGIN', undefined],
    ['begin isolation level serializable', undefined],
    ['START TRANSACTION', undefined],
    ['COMMIT', undefined],
    ['ROLLBACK', undefined],
    ['SAVEPOINT a', undefined],
    ['SET search_path = x', undefined],
    ['SET LOCAL statement_timeout = 1', undefined],
    ['RESET ALL', undefined],
    ['LISTEN channel', undefined],
    ['DECLARE c CURSOR FOR SELECT 1', undefined],
    ['COPY t FROM STDIN', undefined],
    ['CREATE TABLE t (a int)', undefined],
    ['VACUUM t', undefined],
    ['DO $$ BEGIN END $$', undefined],
    ['CALL p()', undefined],
    ['SELECT 1; BEGIN', undefined],
    ["SELECT 'a;b'", undefined], // conservative: a literal ';' takes the exclusive path
    ['-- comment\nSELECT 1', undefined],
    ['(SELECT 1)', undefined],
    ['selectx FROM t', undefined],
    ['', undefined],
  ])('sends %j exclusively', (text, values) => {
    expect(isPipelinable(text, values)).toBe(false);
  });

  it('pipelines a multi-statement-looking text only on the extended protocol', () => {
    // With parameters PostgreSQL itself refuses a second statement (42601), failing one query.
    expect(isPipelinable('SELECT $1::int; SELECT 2', [1])).toBe(true);
    expect(isPipelinable('SELECT 1; SELECT 2', [])).toBe(false); // [] is the simple protocol
    expect(isPipelinable({ text: 'SELECT 1; SELECT 2', name: 'n' }, undefined)).toBe(true);
    expect(
      isPipelinable({ text: 'SELECT 1; SELECT 2', queryMode: 'extended' } as never, undefined),
    ).toBe(true);
  });

  it('routes configs that need the connection beyond one statement exclusively', () => {
    const text = 'SELECT $1::int';
    expect(isPipelinable({ text, values: [1] }, undefined)).toBe(true);
    expect(
      isPipelinable({ text, values: [1], rowMode: 'array', name: 'q' } as never, undefined),
    ).toBe(true);
    expect(isPipelinable({ text, values: [1], statementTimeout: 5 }, undefined)).toBe(false);
    expect(isPipelinable({ text, values: [1], lockTimeout: 5 }, undefined)).toBe(false);
    expect(isPipelinable({ text, values: [1], query_timeout: 5 }, undefined)).toBe(false);
    expect(isPipelinable({ text, values: [1], rows: 5 } as never, undefined)).toBe(false);
    expect(isPipelinable({ text, callback: () => undefined } as never, undefined)).toBe(false);
    expect(isPipelinable({ name: 'only-a-name' } as never, undefined)).toBe(false);
    expect(isPipelinable(null as never, undefined)).toBe(false);
  });
});
