/**
 * Express: `app.get('/health', expressHealth(pool))`. Express's request and response are
 * node:http's, so this writes them directly and needs nothing from Express at run time (nor its
 * types: the signature is structural, and fits `app.get`, `app.use` and `router.get`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { HealthHandlerOptions, HealthTarget } from './answer.js';
import { isProbeMethod, sendHealth } from './node-http.js';

export type ExpressHealthHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Answers GET and HEAD with the report (200 or 503); passes any other method on to the next
 * handler, so it can also be mounted with `app.use('/health', ...)`. A failing check is a 503,
 * never `next(error)`: Express's error handler would answer 500 and log a stack.
 */
export function expressHealth(
  target: HealthTarget,
  options?: HealthHandlerOptions,
): ExpressHealthHandler {
  return (req, res, next) => {
    if (!isProbeMethod(req.method)) {
      next();
      return;
    }
    void sendHealth(target, options, res);
  };
}
