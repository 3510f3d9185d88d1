import express from 'express';
import { createServer } from 'node:http';

import { describe, expect, it } from 'vitest';

import { expressHealth } from '../../src/health/index.js';
import { failingTarget, healthyTarget, listen, request, throwingTarget } from './support.js';

describe('expressHealth', () => {
  it('answers GET and HEAD on a real Express route, 200 with the report', async () => {
    const app = express();
    app.get('/health', expressHealth(healthyTarget('api')));
    const url = await listen(createServer(app));
    const get = await request(`${url}/health`);
    expect(get.status).toBe(200);
    expect(get.headers.get('cache-control')).toBe('no-store');
    expect(get.json).toMatchObject({ status: 'ok', name: 'api' });
    const head = await request(`${url}/health`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });

  it('answers 503 when the pool is down, and 503 (never 500) when the check throws', async () => {
    const app = express();
    app.get('/down', expressHealth(failingTarget()));
    app.get('/throws', expressHealth(throwingTarget(new Error('boom'))));
    const url = await listen(createServer(app));
    const down = await request(`${url}/down`);
    expect(down.status).toBe(503);
    expect(down.json.error?.code).toBe('ERR_POOL_CIRCUIT_OPEN');
    const throws = await request(`${url}/throws`);
    expect(throws.status).toBe(503);
    expect(throws.json.error?.code).toBe('ERR_HEALTH_CHECK_FAILED');
  });

  it('as middleware, passes other methods on to the next handler', async () => {
    const app = express();
    app.use('/health', expressHealth(healthyTarget()));
    app.post('/health', (_req, res) => {
      res.status(202).send('next');
    });
    const url = await listen(createServer(app));
    expect((await request(`${url}/health`)).status).toBe(200);
    const post = await request(`${url}/health`, 'POST');
    expect([post.status, post.text]).toEqual([202, 'next']);
  });
});
