/**
 * The dashboard's HTTP side without a browser, over real sockets: the page and its security
 * headers, the Server-Sent Events framing, routing (404, 405, `next`, mount paths, Express),
 * cleanup when a browser goes away or the dashboard closes, and the standalone server.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';

import { ConnectionBudget, Pool } from '../../src/core/index.js';
import {
  DashboardError,
  createDashboard,
  startDashboard,
  type Dashboard,
  type DashboardOptions,
  type DashboardSnapshot,
  type DashboardUpdate,
} from '../../src/dashboard/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function corePool(name = 'core-pool'): Pool<object> {
  const pool = new Pool<object>({ create: async () => ({}), destroy() {} }, { max: 2, name });
  cleanups.push(() => pool.end());
  return pool;
}

function dashboardFor(pool: Pool<object>, options: DashboardOptions = {}): Dashboard {
  const dashboard = createDashboard(pool, { intervalMillis: 50, ...options });
  cleanups.push(() => dashboard.close());
  return dashboard;
}

async function serve(listener: RequestListener): Promise<string> {
  const server: Server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A dashboard mounted at the root of a plain node:http server. */
async function mounted(
  options: DashboardOptions = {},
  pool = corePool(),
): Promise<{ base: string; dashboard: Dashboard; pool: Pool<object> }> {
  const dashboard = dashboardFor(pool, options);
  const base = await serve((req, res) => dashboard.handler(req, res));
  return { base, dashboard, pool };
}

/** Reads Server-Sent Events off a live response, one parsed frame at a time. */
class EventReader {
  private buffer = '';
  private readonly frames: string[] = [];
  private wake: (() => void) | undefined;
  ended = false;

  constructor(readonly response: IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) !== -1) {
        this.frames.push(this.buffer.slice(0, end));
        this.buffer = this.buffer.slice(end + 2);
      }
      this.wake?.();
    });
    response.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** The next raw frame (without its terminating blank line). */
  async next(): Promise<string> {
    while (this.frames.length === 0) {
      if (this.ended) throw new Error('the stream ended');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.frames.shift()!;
  }

  /** The next `event:`/`data:` frame, with its data parsed as JSON. */
  async nextEvent<T>(): Promise<{ event: string; data: T }> {
    for (;;) {
      const frame = await this.next();
      const match = /^event: ([a-z]+)\ndata: (.*)$/.exec(frame);
      if (match !== null) return { event: match[1]!, data: JSON.parse(match[2]!) as T };
      expect(frame).toMatch(/^retry: \d+$/);
    }
  }

  async untilEnd(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
  }
}

function get(url: string, method = 'GET'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    // A fresh socket per request: a kept-alive one would outlive a server the test closes.
    const req = request(url, { method, agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function body(response: IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response) text += chunk as string;
  return text;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64');

describe('the page', () => {
  it('is served with a CSP that allows exactly its inline script and style', async () => {
    const { base } = await mounted();
    const response = await get(`${base}/`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    const html = await body(response);
    const csp = response.headers['content-security-policy']!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*)<\/style>/.exec(html)![1]!;
    expect(csp).toContain(`script-src 'sha256-${sha256(script)}'`);
    expect(csp).toContain(`style-src 'sha256-${sha256(style)}'`);
    // Nothing external: the only absolute URL is the SVG namespace, which is never fetched.
    const urls = html.match(/https?:\/\/[^\s'"<>]+/g) ?? [];
    expect(urls.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
    expect(html).not.toMatch(/<(link|script|img)[^>]+(src|href)="(?!data:)/);
  });

  it('escapes the pool name, which is user input', async () => {
    const { base } = await mounted({}, corePool('<img src=x onerror="alert(1)"> & \'q\''));
    const html = await body(await get(`${base}/`));
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(
      '<title>Lifeguard dashboard: &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#39;q&#39;</title>',
    );
  });

  it('answers HEAD without a body', async () => {
    const { base } = await mounted();
    const response = await get(`${base}/`, 'HEAD');
    expect(response.statusCode).toBe(200);
    expect(await body(response)).toBe('');
  });
});

describe('the event stream', () => {
  it('sends a snapshot with the history on connect, then one sample per interval', async () => {
    const { base, pool } = await mounted();
    await pool.use(async () => undefined);
    const response = await get(`${base}/events`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    const events = new EventReader(response);
    cleanups.push(() => response.destroy());
    expect(await events.next()).toBe('retry: 2000');
    const snapshot = await events.nextEvent<DashboardSnapshot>();
    expect(snapshot.event).toBe('snapshot');
    expect(snapshot.data).toMatchObject({ name: 'core-pool', intervalMillis: 50 });
    expect(snapshot.data.history.length).toBeGreaterThanOrEqual(1);
    expect(snapshot.data.state.histogram.total).toBe(1);
    const first = await events.nextEvent<DashboardUpdate>();
    const second = await events.nextEvent<DashboardUpdate>();
    expect([first.event, second.event]).toEqual(['sample', 'sample']);
    expect(second.data.sample.time).toBeGreaterThanOrEqual(first.data.sample.time);
    expect(second.data.state).toMatchObject({ throughputUnit: 'checkouts', throughputTotal: 1 });
  });

  it('drops a browser that goes away, and keeps serving the others', async () => {
    const { base, dashboard } = await mounted();
    const a = await get(`${base}/events`);
    const b = await get(`${base}/events`);
    const readerB = new EventReader(b);
    cleanups.push(() => b.destroy());
    await until(() => dashboard.clients === 2, 'two clients');
    a.destroy();
    await until(() => dashboard.clients === 1, 'the closed client to be dropped');
    // The other stream still gets updates after the first went away.
    await readerB.nextEvent();
    const later = await readerB.nextEvent();
    expect(later.event).toBe('sample');
  });

  it('ends every stream and lets go of the pool when closed', async () => {
    const pool = corePool();
    const before = pool.listenerCount('acquire');
    const { base, dashboard } = await mounted({}, pool);
    expect(pool.listenerCount('acquire')).toBe(before + 1);
    const response = await get(`${base}/events`);
    const events = new EventReader(response);
    await events.nextEvent();
    dashboard.close();
    await events.untilEnd();
    expect(dashboard.closed).toBe(true);
    expect(dashboard.clients).toBe(0);
    expect(pool.listenerCount('acquire')).toBe(before);
    const after = await get(`${base}/events`);
    expect(after.statusCode).toBe(503);
    await body(after);
  });

  it("streams a budget's rows for a pool that joined one", async () => {
    const budget = new ConnectionBudget({ max: 3, name: 'shared' });
    const pool = new Pool<object>(
      { create: async () => ({}), destroy() {} },
      { max: 2, name: 'member', budget },
    );
    cleanups.push(() => pool.end());
    const held = await pool.acquire();
    cleanups.push(() => pool.release(held));
    const { base } = await mounted({}, pool);
    const response = await get(`${base}/events`);
    cleanups.push(() => response.destroy());
    const events = new EventReader(response);
    await events.next(); // retry
    const snapshot = await events.nextEvent<DashboardSnapshot>();
    expect(snapshot.data.state.budget).toEqual({
      name: 'shared',
      max: 3,
      used: 1,
      members: [
        { name: 'member', min: 0, max: 2, used: 1, wanting: 0, shedding: 0, waiting: 0, inUse: 1 },
      ],
    });
    const update = await events.nextEvent<DashboardUpdate>();
    expect(update.data.state.budget).toEqual(snapshot.data.state.budget);
  });
});

describe('routing', () => {
  it('answers 404 for other paths and 405 for other methods', async () => {
    const { base } = await mounted();
    for (const path of ['/nope', '/events/more', '/favicon.ico']) {
      const response = await get(`${base}${path}`);
      expect(response.statusCode, path).toBe(404);
      await body(response);
    }
    const post = await get(`${base}/`, 'POST');
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    await body(post);
  });

  it('serves under a path of its own, with or without the trailing slash', async () => {
    const { base, dashboard } = await mounted({ path: '/ops/pool' });
    expect(dashboard.path).toBe('/ops/pool/');
    for (const [path, status] of [
      ['/ops/pool', 200],
      ['/ops/pool/', 200],
      ['/ops/pool/?tab=1', 200],
      ['/', 404],
      ['/events', 404],
    ] as const) {
      const response = await get(`${base}${path}`);
      expect(response.statusCode, path).toBe(status);
      await body(response);
    }
    const stream = await get(`${base}/ops/pool/events`);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    stream.destroy();
  });

  it('passes what is not its own to next(), as middleware', async () => {
    const dashboard = dashboardFor(corePool());
    const base = await serve((req, res) =>
      dashboard.handler(req, res, () => {
        res.writeHead(418).end('next');
      }),
    );
    const response = await get(`${base}/elsewhere`);
    expect(response.statusCode).toBe(418);
    expect(await body(response)).toBe('next');
  });

  it('mounts in Express under a prefix', async () => {
    const dashboard = dashboardFor(corePool());
    const app = express();
    app.use('/admin/dashboard', dashboard.handler);
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    const base = await serve(app);
    const page = await get(`${base}/admin/dashboard`);
    expect(page.statusCode).toBe(200);
    expect(await body(page)).toContain('<title>Lifeguard dashboard: core-pool</title>');
    const stream = await get(`${base}/admin/dashboard/events`);
    const events = new EventReader(stream);
    expect((await events.nextEvent()).event).toBe('snapshot');
    stream.destroy();
    expect(await body(await get(`${base}/health`))).toBe('ok');
  });

  it('rejects bad options with a typed error', () => {
    const pool = corePool();
    const bad: DashboardOptions[] = [
      { intervalMillis: 10 },
      { intervalMillis: 1.5 },
      { historySize: 0 },
      { path: 'dashboard' },
      { path: '/a?b' },
    ];
    for (const options of bad) {
      expect(() => createDashboard(pool, options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'ERR_DASHBOARD_INVALID_OPTION' }),
      );
    }
    expect(() => createDashboard(pool, { historySize: 0 })).toThrow(DashboardError);
    // A rejected dashboard never subscribed: nothing to leak.
    expect(pool.listenerCount('acquire')).toBe(0);
  });
});

describe('startDashboard', () => {
  it('listens on 127.0.0.1 on a free port, and closes with streams open', async () => {
    const pool = corePool();
    const standalone = await startDashboard(pool, { intervalMillis: 50 });
    cleanups.push(() => standalone.close());
    expect(standalone.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(standalone.url);
    expect(page.statusCode).toBe(200);
    await body(page);
    const stream = await get(`${standalone.url}events`);
    const events = new EventReader(stream);
    await events.nextEvent();
    await standalone.close();
    await standalone.close(); // idempotent
    await events.untilEnd();
    expect(pool.listenerCount('acquire')).toBe(0);
    await expect(get(standalone.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('fails on a port in use, and leaves nothing subscribed', async () => {
    const pool = corePool();
    const first = await startDashboard(pool);
    cleanups.push(() => first.close());
    const port = Number(new URL(first.url).port);
    await expect(startDashboard(pool, { port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(pool.listenerCount('acquire')).toBe(1);
    await expect(startDashboard(pool, { port: 70_000 })).rejects.toBeInstanceOf(DashboardError);
  });
});
