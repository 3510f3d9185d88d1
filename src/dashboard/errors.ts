import { PoolError } from '../core/index.js';

export type DashboardErrorCode = 'ERR_DASHBOARD_INVALID_OPTION';

/** A bad option given to `createDashboard` or `startDashboard`; a `PoolError` like every other. */
export class DashboardError extends PoolError<DashboardErrorCode> {
  constructor(message: string) {
    super('ERR_DASHBOARD_INVALID_OPTION', message);
  }
}
