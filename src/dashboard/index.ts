/**
 * `lifeguard/dashboard`: a live web page for a pool, or a router of pools and their budget. Mount `createDashboard(pool).handler` in
 * node:http or Express, or run `startDashboard(pool)` on a port of its own. See docs/dashboard.md.
 *
 * @example
 * import { startDashboard } from 'lifeguard/dashboard';
 * const dashboard = await startDashboard(pool);
 * console.log(`dashboard at ${dashboard.url}`);
 */
export { createDashboard, type Dashboard, type DashboardOptions } from './handler.js';
export { startDashboard, type StandaloneDashboard, type StandaloneOptions } from './standalone.js';
export { DashboardError, type DashboardErrorCode } from './errors.js';
export type {
  DashboardSample,
  DashboardSnapshot,
  DashboardState,
  DashboardUpdate,
} from './sampler.js';
export type {
  DashboardBudgetSource,
  DashboardPool,
  DashboardRouter,
  DashboardSource,
  DashboardStats,
  WrappingPool,
} from './source.js';
export type { DashboardBudget, DashboardBudgetMember } from './budget-view.js';
export type { WaitHistogramSnapshot } from './wait-histogram.js';
