/**
 * `lifeguard/pg`: a pg.Pool that heals itself. Change one import and keep your code:
 *
 * @example
 * import { Pool } from 'lifeguard/pg';
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 */
export { Pool } from './pool.js';
export {
  PgClientReclaimedError,
  PgConnectError,
  PgConnectionLostError,
  PgInvalidArgumentError,
  PgQueryTimeoutError,
  PgTransactionAbortedError,
  PgTransactionRetriesExhaustedError,
  type FailureDetails,
  type PgErrorCode,
} from './errors.js';
export {
  AcquireTimeoutError,
  CircuitOpenError,
  OverloadedError,
  PoolClosedError,
  PoolError,
  ReleaseError,
  type PoolErrorCode,
  type PoolStats,
} from '../core/index.js';
export type {
  IsolationLevel,
  PgLeaseInfo,
  PgPoolStats,
  PoolConfig,
  QueryArrayConfig,
  QueryConfig,
  Timeouts,
  TransactionClient,
  TransactionOptions,
} from './types.js';
export type { PgHealthOptions } from './health.js';
