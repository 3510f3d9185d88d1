/**
 * Fastify: a route handler, `app.get('/health', fastifyHealth(pool))` (Fastify adds the HEAD
 * route itself), or a plugin, `app.register(fastifyHealthPlugin(pool, { path: '/health' }))`.
 * The types are structural, so lifeguard needs nothing from Fastify.
 */
import { answerHealth, type HealthHandlerOptions, type HealthTarget } from './answer.js';

/** The part of Fastify's reply used here. */
export interface FastifyReplyLike {
  code(statusCode: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

export type FastifyHealthHandler = (
  request: unknown,
  reply: FastifyReplyLike,
) => Promise<FastifyReplyLike>;

/** The part of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  get(path: string, handler: FastifyHealthHandler): unknown;
}

export interface FastifyHealthPluginOptions extends HealthHandlerOptions {
  /** The route's path. Default `/health`. */
  path?: string | undefined;
}

/** A route handler answering the report, 200 or 503; never throws into Fastify. */
export function fastifyHealth(
  target: HealthTarget,
  options?: HealthHandlerOptions,
): FastifyHealthHandler {
  return async (_request, reply) => {
    const answer = await answerHealth(target, options);
    // Sent as a string: Fastify's serializer must not reshape the report.
    return reply.code(answer.statusCode).headers(answer.headers).send(answer.body);
  };
}

/** A plugin that registers `GET path` (and, by Fastify's default, `HEAD path`). */
export function fastifyHealthPlugin(
  target: HealthTarget,
  options: FastifyHealthPluginOptions = {},
): (instance: FastifyInstanceLike) => Promise<void> {
  const { path = '/health', ...handlerOptions } = options;
  const handler = fastifyHealth(target, handlerOptions);
  return (instance) => {
    instance.get(path, handler);
    return Promise.resolve();
  };
}
