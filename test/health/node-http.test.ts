import { createServer } from 'node:http';

import { describe, expect, it } from 'vitest';

import { PoolError } from '../../src/core/index.js';
import { healthHandler } from '../../src/health/index.js';
import {
  deadPgTarget,
  failingTarget,
  healthyTarget,
  listen,
  request,
  throwingTarget,
} from './support.js';

describe('healthHandler (node:http)', () => {
  it('answers 200 with the report as JSON, not to be cached', async () => {
    const url = await listen(createServer(healthHandler(healthyTarget('orders'))));
    const answer = await request(url);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.json).toMatchObject({ status: 'ok', name: 'orders', circuit: 'closed' });
    expect(answer.json.stats).toMatchObject({ acquires: 1, inUse: 0 });
    expect(typeof answer.json.latencyMillis).toBe('number');
  });

  it('answers HEAD with the same status and headers and no body', async () => {
    const url = await listen(createServer(healthHandler(healthyTarget())));
    const head = await request(url, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('cache-control')).toBe('no-store');
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
  });

  it('answers 503 when the pool cannot make a resource', async () => {
    const url = await listen(createServer(healthHandler(failingTarget())));
    const answer = await request(url);
    expect(answer.status).toBe(503);
    expect(answer.json.status).toBe('down');
    expect(answer.json.error?.code).toBe('ERR_POOL_CIRCUIT_OPEN');
    expect(answer.json.error?.message).toContain('ECONNREFUSED');
  });

  it('answers 503 for a lifeguard/pg pool whose server is unreachable, without its password', async () => {
    const url = await listen(createServer(healthHandler(await deadPgTarget())));
    const answer = await request(url);
    expect(answer.status).toBe(503);
    expect(answer.json).toMatchObject({ status: 'down', name: 'pg-dead', circuit: 'open' });
    expect(answer.json.error?.code).toBe('ERR_POOL_CIRCUIT_OPEN');
    expect(answer.json.error?.message).toContain('ECONNREFUSED');
    expect(answer.text).not.toContain('hunter2');
  });

  it('answers 503 with a typed code when health() rejects, and hides a foreign error message', async () => {
    const url = await listen(
      createServer(healthHandler(throwingTarget(new Error('password=hunter2 leaked')))),
    );
    const answer = await request(url);
    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({
      status: 'down',
      error: { code: 'ERR_HEALTH_CHECK_FAILED', message: 'The health check threw an error' },
    });
    expect(answer.text).not.toContain('hunter2');
  });

  it("answers 503 with lifeguard's own code when health() rejects with a pool error", async () => {
    const error = new PoolError('ERR_POOL_CLOSED', 'The pool is closed');
    const url = await listen(createServer(healthHandler(throwingTarget(error))));
    const answer = await request(url);
    expect(answer.status).toBe(503);
    expect(answer.json.error).toEqual({ code: 'ERR_POOL_CLOSED', message: 'The pool is closed' });
  });

  it('answers 503 when health() throws synchronously', async () => {
    const target = {
      health: () => {
        throw new TypeError('not a function');
      },
    };
    const url = await listen(createServer(healthHandler(target)));
    const answer = await request(url);
    expect(answer.status).toBe(503);
    expect(answer.json.error?.code).toBe('ERR_HEALTH_CHECK_FAILED');
  });

  it('answers 503 ERR_HEALTH_TIMEOUT when health() never settles', async () => {
    const target = { health: () => new Promise<never>(() => {}) };
    const url = await listen(createServer(healthHandler(target, { timeoutMillis: 50 })));
    const answer = await request(url);
    expect(answer.status).toBe(503);
    expect(answer.json.error).toEqual({
      code: 'ERR_HEALTH_TIMEOUT',
      message: 'The health check did not answer within 50 ms',
    });
  });

  it('answers only status and name with details: false', async () => {
    const url = await listen(
      createServer(healthHandler(healthyTarget('orders'), { details: false })),
    );
    expect((await request(url)).json).toEqual({ status: 'ok', name: 'orders' });
  });

  it('answers 405 to methods other than GET and HEAD', async () => {
    const url = await listen(createServer(healthHandler(healthyTarget())));
    const answer = await request(url, 'POST');
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET, HEAD');
  });
});
