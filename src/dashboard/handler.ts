/**
 * The dashboard as an HTTP handler: `GET <path>` serves the page, `GET <path>/events` the live
 * Server-Sent Events stream. It mounts in node:http (`handler(req, res)`) and as Express/Connect
 * middleware (`app.use('/dashboard', handler)`: anything not ours goes to `next`).
 *
 * What is served: the pool's name, gauges and counters (and its budget's name, members and
 * counts). Never its options or connection string, so credentials cannot leak through it; still, mount it where only operators reach it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { EventStreams } from './event-streams.js';
import { dashboardSettingsOf, type DashboardOptions } from './options.js';
import { kContentSecurityPolicy, renderPage } from './page.js';
import { kCommonHeaders, sendText } from './responses.js';
import { Sampler, type DashboardSnapshot } from './sampler.js';
import type { DashboardSource } from './source.js';

export type { DashboardOptions } from './options.js';

export type DashboardHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

export interface Dashboard {
  /** Serves the page and the event stream; 404s other paths, or calls `next` if given. */
  readonly handler: DashboardHandler;
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

/**
 * A dashboard for `pool`: a core `Pool`, a `lifeguard/pg` `Pool`, or a router of pools
 * (`lifeguard/routing`), with a section for the ConnectionBudget when the pool joined one or
 * the router has one. It starts sampling at once (so the charts have history when someone
 * looks) and until `close()`.
 */
export function createDashboard(pool: DashboardSource, options: DashboardOptions = {}): Dashboard {
  const { intervalMillis, historySize, path } = dashboardSettingsOf(options);
  const page = renderPage(pool.name);
  const sampler = new Sampler(pool, { intervalMillis, historySize });
  const streams = new EventStreams(sampler);
  return {
    handler: handlerOf(path, page, sampler, streams),
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
      streams.closeAll();
    },
  };
}

/** Routes a request to the page or the event stream, refusing what is neither. */
function handlerOf(
  path: string,
  page: string,
  sampler: Sampler,
  streams: EventStreams,
): DashboardHandler {
  return (req, res, next) => {
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
    if (route === 'events') streams.open(req, res);
    else sendPage(req, res, page);
  };
}

function sendPage(req: IncomingMessage, res: ServerResponse, page: string): void {
  res.writeHead(200, {
    ...kCommonHeaders,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': kContentSecurityPolicy,
    'Content-Length': Buffer.byteLength(page),
  });
  res.end(req.method === 'HEAD' ? undefined : page);
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
