/**
 * `lifeguard/routing`: routers of pools under one connection budget (lanes, tenants, read
 * replicas), each pg.Pool-shaped, and sizing advice for pools. See docs/routing.md and
 * docs/advise.md.
 *
 * @example
 * import { advise, formatAdvice } from 'lifeguard/routing';
 * process.stdout.write(formatAdvice(await advise(process.env.DATABASE_URL!)));
 */
export { advise } from './advise.js';
export { formatAdvice } from './advise-format.js';
export { AdviseError } from './advise-target.js';
export type * from './advise-types.js';
export { PoolRouter } from './router.js';
export type { Routed, RouteTarget, RouterHealthReport, RouterStats } from './router.js';
export { createLanes, LaneRouter } from './lanes.js';
export type { LaneConfig, LaneOption, LanesConfig } from './lanes.js';
export { createReplicaRouter, ReplicaRouter } from './replicas.js';
export type { ReplicaOption, ReplicaRouterStats } from './replicas.js';
export type { MemberConfig, ReplicaRouterConfig } from './replicas-config.js';
export type { ReplicaStats } from './replicas-member.js';
export type { OutReason } from './replicas-lag.js';
export { isReadOnlySql } from './replicas-classify.js';
export { createTenants, TenantRouter } from './tenants.js';
export { TenantHandle } from './tenants-handle.js';
export type * from './tenants-types.js';
export { RoutingError, type RoutingErrorCode } from './errors.js';
export { ConnectionBudget, BudgetError } from '../core/index.js';
export type { BudgetMemberStats, BudgetStats } from '../core/index.js';
