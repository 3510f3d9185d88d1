import { PoolError } from '../core/index.js';

export type RoutingErrorCode =
  /** A router's configuration is invalid (unknown lane, bad budget, no replicas, ...). */
  | 'ERR_ROUTING_INVALID_CONFIG'
  /** A call named a lane or tenant the router does not know. */
  | 'ERR_ROUTING_UNKNOWN_ROUTE'
  /** A read needed a replica (`fallback: 'fail'`) and none was usable. */
  | 'ERR_ROUTING_NO_REPLICA'
  /** A read-your-writes token (`{ after }`, `withConsistency`) is not a WAL position. */
  | 'ERR_ROUTING_INVALID_TOKEN'
  /** A tenant could not get a pool: the budget is full and no idle tenant pool can be closed. */
  | 'ERR_ROUTING_BUDGET_EXHAUSTED';

/**
 * lifeguard/routing's own errors; pg.Pool has no equivalent of any of them. Errors of the
 * queries themselves come from the member pools unchanged.
 */
export class RoutingError extends PoolError<RoutingErrorCode> {}
