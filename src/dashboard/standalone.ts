/**
 * The dashboard on an HTTP server of its own, for apps without one to mount it in and for
 * scripts (`npm start`). Listens on 127.0.0.1 by default: the page shows the pool's load and
 * errors, which is nobody else's business unless the app decides otherwise.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { DashboardError } from './errors.js';
import { createDashboard, type Dashboard, type DashboardOptions } from './handler.js';
import type { DashboardSource } from './source.js';

export interface StandaloneOptions extends DashboardOptions {
  /** Default 0: a free port, chosen by the system (read it from `url`). */
  port?: number;
  /** Default `127.0.0.1`. `0.0.0.0` or `::` exposes the page to the network. */
  host?: string;
}

export interface StandaloneDashboard {
  /** Where to point a browser, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  readonly dashboard: Dashboard;
  /** Ends open event streams, stops sampling and closes the server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves the dashboard for `pool` on its own server. The server keeps the process alive until
 * `close()`, as any listening server does.
 *
 * @example
 * const { url, close } = await startDashboard(pool, { port: 9100 });
 * console.log(`dashboard: ${url}`);
 */
export async function startDashboard(
  pool: DashboardSource,
  options: StandaloneOptions = {},
): Promise<StandaloneDashboard> {
  const { port = 0, host = '127.0.0.1', ...dashboardOptions } = options;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new DashboardError(`port must be an integer from 0 to 65535, got ${port}`);
  }
  const dashboard = createDashboard(pool, dashboardOptions);
  const server = createServer((req, res) => dashboard.handler(req, res));
  try {
    await listen(server, port, host);
  } catch (error) {
    dashboard.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${hostForUrl(address.address)}:${address.port}${dashboard.path}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    dashboard,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // Event streams never end on their own: end them first, or server.close() would wait.
        dashboard.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** A host a browser can use: the unspecified addresses become localhost, IPv6 gets brackets. */
function hostForUrl(address: string): string {
  if (address === '0.0.0.0' || address === '::') return 'localhost';
  return address.includes(':') ? `[${address}]` : address;
}
