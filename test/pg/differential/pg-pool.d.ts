/**
 * pg-pool ships no types. It is the class behind `pg.Pool` (pg binds it to `pg.Client`), so
 * @types/pg's `Pool` describes it; without a Client option it uses `require('pg').Client`.
 */
declare module 'pg-pool' {
  import type pg from 'pg';

  const PgPool: typeof pg.Pool;
  export default PgPool;
}
