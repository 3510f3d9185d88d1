import Fastify from 'fastify';

import { describe, expect, it } from 'vitest';

import { fastifyHealth, fastifyHealthPlugin } from '../../src/health/index.js';
import { failingTarget, healthyTarget, onCleanup, request, throwingTarget } from './support.js';

async function start(app: ReturnType<typeof Fastify>): Promise<string> {
  onCleanup(() => app.close());
  return await app.listen({ port: 0, host: '127.0.0.1' });
}

describe('fastifyHealth', () => {
  it('answers GET and HEAD on a real Fastify route, 200 with the report unchanged', async () => {
    const app = Fastify();
    app.get('/health', fastifyHealth(healthyTarget('api')));
    const url = await start(app);
    const get = await request(`${url}/health`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(get.headers.get('cache-control')).toBe('no-store');
    expect(get.json).toMatchObject({ status: 'ok', name: 'api', circuit: 'closed' });
    expect(get.json.stats.destroys).toBeDefined();
    const head = await request(`${url}/health`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });

  it('answers 503 when the pool is down, and 503 (never 500) when the check throws', async () => {
    const app = Fastify();
    app.get('/down', fastifyHealth(failingTarget()));
    app.get('/throws', fastifyHealth(throwingTarget(new Error('boom'))));
    const url = await start(app);
    const down = await request(`${url}/down`);
    expect(down.status).toBe(503);
    expect(down.json.error?.code).toBe('ERR_POOL_CIRCUIT_OPEN');
    const throws = await request(`${url}/throws`);
    expect(throws.status).toBe(503);
    expect(throws.json.error?.code).toBe('ERR_HEALTH_CHECK_FAILED');
  });

  it('registers GET (and HEAD) at a path as a plugin', async () => {
    const app = Fastify();
    await app.register(fastifyHealthPlugin(healthyTarget(), { path: '/ready', details: false }));
    const url = await start(app);
    expect((await request(`${url}/ready`)).json).toEqual({ status: 'ok', name: 'memory' });
    expect((await request(`${url}/ready`, 'HEAD')).status).toBe(200);
    expect((await request(`${url}/health`)).status).toBe(404);
  });
});
