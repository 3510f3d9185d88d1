/** Which failures of a read on a replica mean "try it elsewhere" (and suspect the replica). */
import { errnoOf, sqlStateOf } from '../pg/internal.js';

/**
 * 57P01 admin_shutdown, 57P03 cannot_connect_now (starting up or shutting down), 40001 (on a
 * standby: a recovery conflict cancelled the query), and lost or refused connections.
 */
const kRetryStates = new Set(['57P01', '57P03', '40001']);
const kConnectionCodes = new Set([
  'ERR_PG_CONNECT_FAILED',
  'ERR_PG_CONNECTION_LOST',
  'ERR_POOL_CIRCUIT_OPEN',
  'ERR_POOL_CREATE_FAILED',
  'ERR_POOL_CREATE_TIMEOUT',
]);

export function isReplicaFailure(error: unknown): boolean {
  const state = sqlStateOf(error);
  if (state !== undefined) return kRetryStates.has(state);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && kConnectionCodes.has(code)) return true;
  const { sqlState } = (error ?? {}) as { sqlState?: unknown };
  if (typeof sqlState === 'string') return kRetryStates.has(sqlState);
  const errno = errnoOf(error);
  return errno !== undefined && /^E[A-Z0-9]+$/.test(errno); // ECONNREFUSED, ECONNRESET, ...
}

/** 25006 read_only_sql_transaction: a write reached a server in recovery; nothing ran. */
export function isReadOnlyRefusal(error: unknown): boolean {
  return sqlStateOf(error) === '25006';
}
