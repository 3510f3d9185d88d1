/**
 * `lifeguard/routing`: sizing advice for pools (issue 12), and in time the routers of pools
 * (replicas, tenants) that build on it.
 *
 * @example
 * import { advise, formatAdvice } from 'lifeguard/routing';
 * process.stdout.write(formatAdvice(await advise(process.env.DATABASE_URL!)));
 */
export { advise } from './advise.js';
export { formatAdvice } from './advise-format.js';
export { AdviseError } from './advise-target.js';
export type * from './advise-types.js';
