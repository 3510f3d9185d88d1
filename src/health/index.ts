/**
 * `lifeguard/health`: HTTP answers for load balancers and orchestrators, from anything with a
 * `health()` (a lifeguard/pg Pool, or a function of yours around `checkHealth`). 200 for `ok`
 * and `degraded`, 503 for `down`, a JSON body, `Cache-Control: no-store`. See docs/health.md.
 *
 * @example
 * import { healthHandler } from 'lifeguard/health';
 * http.createServer(healthHandler(pool)).listen(8081);
 */
export {
  answerHealth,
  type HealthAnswer,
  type HealthFailureBody,
  type HealthHandlerOptions,
  type HealthTarget,
} from './answer.js';
export { healthHandler, type NodeHealthHandler } from './node-http.js';
export { expressHealth, type ExpressHealthHandler } from './express.js';
export {
  fastifyHealth,
  fastifyHealthPlugin,
  type FastifyHealthHandler,
  type FastifyHealthPluginOptions,
  type FastifyInstanceLike,
  type FastifyReplyLike,
} from './fastify.js';
export type {
  HealthCheckOptions,
  HealthReason,
  HealthReport,
  HealthStatus,
} from '../core/index.js';
