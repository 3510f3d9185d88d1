/**
 * The dashboard as an HTTP handler: `GET <path>` serves the page, `GET <path>/events` the live
 * Server-Sent Events stream. It mounts in node:http (`handler(req, res)`) and as Express/Connect
 * middleware (`app.use('/dashboard', handler)`: anything not ours goes to `next`).
 *
 * What is served: the pool's name, gauges and counters. Never its options or connection
 * string, so credentials cannot leak through it; still, mount it where only operators reach it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { DashboardError } from './errors.js';
import { kContentSecurityPolicy, renderPage } from './page.js';
import { Sampler, type DashboardSnapshot, type DashboardUpdate } from './sampler.js';
import type { DashboardSource } from './source.js';

export interface DashboardOptions {
  /** How often the pool is sampled and browsers are updated. Default 1 000 ms; at least 50. */
  intervalMillis?: number;
  /** Samples kept for the charts over time. Default 300 (5 minutes at the default interval). */
  historySize?: number;
  /**
   * Where the page lives, as the handler sees `req.url`. Default `/`. With Express, mount the
   * handler with `app.use('/dashboard', ...)` and keep the default: Express strips the prefix.
   */
  path?: string;
}

export interface Dashboard {
  /** Serves the page and the event stream; 404s other paths, or calls `next` if given. */
  readonly handler: (
    req: IncomingMessage,
    res: ServerResponse,
    next?: (error?: unknown) => void,
  ) => void;
  /** The normalized mount path, always ending in `/`. */
  readonly path: string;
  /** Browsers currently connected to the event stream. */
  readonly clients: number;
  readonly closed: boolean;
  /** What a browser gets when it connects: the history and the latest totals. */
  snapshot(): DashboardSnapshot;
  /** Stops sampling, unsubscribes from the pool, and ends every open event stream. Idempotent. */
  close(): void;
}

const kDefaultIntervalMillis = 1_000;
const kMinIntervalMillis = 50;
const kDefaultHistorySize = 300;
const kMaxHistorySize = 100_000;
/** The browser reconnects this long after losing the stream. */
const kRetryMillis = 2_000;
/**
 * A browser that stops reading (a suspended tab, a dead network path) is dropped once this much
 * is queued for it, rather than buffering without bound. Several minutes of updates.
 */
const kMaxBufferedBytes = 1 << 20;

const kCommonHeaders = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

/**
 * A dashboard for `pool`: a core `Pool` or a `lifeguard/pg` `Pool`. It starts sampling at
 * once (so the charts have history when someone looks) and until `close()`.
 */
export function createDashboard(pool: DashboardSource, options: DashboardOptions = {}): Dashboard {
  const intervalMillis = integerOption(
    'intervalMillis',
    options.intervalMillis,
    kDefaultIntervalMillis,
    kMinIntervalMillis,
    2 ** 31 - 1,
  );
  const historySize = integerOption(
    'historySize',
    options.historySize,
    kDefaultHistorySize,
    1,
    kMaxHistorySize,
  );
  const path = normalizePath(options.path ?? '/');
  const page = renderPage(pool.name);
  const sampler = new Sampler(pool, { intervalMillis, historySize });
  /** Open event streams, each with the function that ends it and unsubscribes it. */
  const streams = new Map<ServerResponse, () => void>();

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      ...kCommonHeaders,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      // Proxies such as nginx buffer responses by default, which would hold the updates back.
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.socket?.setNoDelay(true);
    res.write(`retry: ${kRetryMillis}\n\n${frame('snapshot', sampler.snapshot())}`);
    const unsubscribe = sampler.subscribe((update: DashboardUpdate) => {
      if (res.writableLength > kMaxBufferedBytes) {
        drop();
        return;
      }
      res.write(frame('sample', update));
    });
    const drop = (): void => {
      if (!streams.delete(res)) return;
      unsubscribe();
      res.off('close', drop);
      if (!res.writableEnded) res.end();
    };
    streams.set(res, drop);
    // 'close' fires when the browser goes away (tab closed, navigation, network loss) and after
    // we end the response ourselves: either way the subscription goes with it.
    res.on('close', drop);
  }

  function handler(
    req: IncomingMessage,
    res: ServerResponse,
    next?: (error?: unknown) => void,
  ): void {
    const route = routeOf(path, req.url ?? '/');
    if (route === undefined) {
      if (next !== undefined) next();
      else sendText(res, 404, 'Not found');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendText(res, 405, 'Method not allowed');
      return;
    }
    if (sampler.closed) {
      sendText(res, 503, 'The dashboard is closed');
      return;
    }
    if (route === 'events') {
      openStream(req, res);
      return;
    }
    res.writeHead(200, {
      ...kCommonHeaders,
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': kContentSecurityPolicy,
      'Content-Length': Buffer.byteLength(page),
    });
    res.end(req.method === 'HEAD' ? undefined : page);
  }

  return {
    handler,
    path,
    get clients() {
      return streams.size;
    },
    get closed() {
      return sampler.closed;
    },
    snapshot: () => sampler.snapshot(),
    close() {
      sampler.close();
      for (const drop of [...streams.values()]) drop();
    },
  };
}

/** One SSE event. JSON never contains a raw line break, so `data` is always one line. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...kCommonHeaders, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

/** Which of our two resources `url` asks for, if either. */
function routeOf(path: string, url: string): 'page' | 'events' | undefined {
  const query = url.indexOf('?');
  const pathname = query === -1 ? url : url.slice(0, query);
  // `/dashboard` and `/dashboard/` are both the page; the script finds `events` from either.
  if (pathname === path || pathname === path.slice(0, -1)) return 'page';
  if (pathname === `${path}events`) return 'events';
  return undefined;
}

function normalizePath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw new DashboardError(
      `path must be an absolute URL path such as "/dashboard", got ${JSON.stringify(path)}`,
    );
  }
  return path.endsWith('/') ? path : `${path}/`;
}

function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new DashboardError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}
