import { describe, expect, it } from 'vitest';

import { isReadOnlySql } from '../../src/routing/replicas-classify.js';

describe('isReadOnlySql', () => {
  it.each([
    'SELECT 1',
    'select * from t where id = $1',
    '  \n SELECT 1;  ',
    'SELECT 1; -- trailing comment',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'VALUES (1), (2)',
    'SHOW search_path',
    'TABLE accounts',
    'EXPLAIN SELECT * FROM t',
    '(SELECT 1) UNION (SELECT 2)',
    "SELECT 'DELETE FROM t; UPDATE x' AS s",
    "SELECT E'it\\'s; INSERT' AS s",
    'SELECT $$; DROP TABLE t; $$ AS s',
    'SELECT $body$ nextval(1) $body$',
    '/* UPDATE */ SELECT 1',
    '/* nested /* UPDATE */ still */ SELECT 1',
    'SELECT substring(name FROM 1 FOR 3) FROM t',
    'SELECT updated_at, inserted_by FROM t',
    'SELECT pg_is_in_recovery()',
    'SELECT count(*) FROM t WHERE x = $1 AND y = $2',
  ])('read: %s', (sql) => {
    expect(isReadOnlySql(sql)).toBe(true);
  });

  it.each([
    'INSERT INTO t VALUES (1)',
    'UPDATE t SET x = 1',
    'DELETE FROM t',
    'MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
    'CREATE TABLE t (x int)',
    'BEGIN',
    'SET search_path = x',
    'SELECT * FROM t FOR UPDATE',
    'SELECT * FROM t FOR NO KEY UPDATE',
    'SELECT * FROM t FOR SHARE',
    'select * from t for key share skip locked',
    'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
    'WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1',
    "SELECT nextval('s')",
    "SELECT pg_catalog.setval('s', 1)",
    'SELECT currval($1)',
    'SELECT pg_advisory_lock(1)',
    'SELECT pg_try_advisory_xact_lock(1)',
    "SELECT set_config('x', 'y', false)",
    'SELECT txid_current()',
    'SELECT pg_current_xact_id()',
    'SELECT pg_current_wal_lsn()',
    'SELECT lo_import($1)',
    'SELECT "nextval"($1)',
    'SELECT * INTO new_table FROM t',
    'EXPLAIN ANALYZE SELECT 1',
    'EXPLAIN (ANALYZE, BUFFERS) SELECT 1',
    'SELECT 1; SELECT 2',
    'SELECT 1; DELETE FROM t',
    "SELECT 1; 'x'",
    "SELECT 'unterminated",
    'SELECT /* unterminated',
    '',
    '   ',
    '-- only a comment',
    'COPY t TO STDOUT',
    'CALL p()',
    'DO $$ BEGIN END $$',
    'LOCK TABLE t',
  ])('write: %s', (sql) => {
    expect(isReadOnlySql(sql)).toBe(false);
  });
});
