export { Pool } from './pool.js';
export { Lease } from './lease.js';
export * from './errors.js';
export type * from './types.js';
export type { NormalizedOptions } from './options.js';
export { OverloadControl } from './overload.js';
export * from './health.js';
export type {
  AcquireMessage,
  CreateMessage,
  DestroyMessage,
  PoolMessage,
  ReleaseMessage,
} from './channels.js';
export { BudgetError, ConnectionBudget } from './budget.js';
export type {
  BudgetHooks,
  BudgetLimits,
  BudgetMember,
  BudgetMemberStats,
  BudgetOptions,
  BudgetStats,
} from './budget.js';
