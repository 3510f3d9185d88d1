/**
 * The node:http handler: `http.createServer(healthHandler(pool))`, or called from your own
 * router for one path. GET and HEAD are answered; other methods get 405.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { answerHealth, type HealthHandlerOptions, type HealthTarget } from './answer.js';

export type NodeHealthHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * @example
 * import { createServer } from 'node:http';
 * import { healthHandler } from 'lifeguard/health';
 *
 * const health = healthHandler(pool);
 * createServer((req, res) => (req.url === '/health' ? health(req, res) : app(req, res)));
 */
export function healthHandler(
  target: HealthTarget,
  options?: HealthHandlerOptions,
): NodeHealthHandler {
  return (req, res) => {
    if (!isProbeMethod(req.method)) {
      res.writeHead(405, { allow: 'GET, HEAD', 'cache-control': 'no-store' }).end();
      return;
    }
    void sendHealth(target, options, res);
  };
}

/** GET and HEAD: what load balancers and orchestrators send. */
export function isProbeMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD';
}

/**
 * Writes the answer. Never rejects: `answerHealth` does not, and a client that went away makes
 * `end()` a no-op. node:http leaves the body out of a response to HEAD by itself.
 */
export async function sendHealth(
  target: HealthTarget,
  options: HealthHandlerOptions | undefined,
  res: ServerResponse,
): Promise<void> {
  const answer = await answerHealth(target, options);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.statusCode, answer.headers).end(answer.body);
}
