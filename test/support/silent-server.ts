/**
 * Fake servers on 127.0.0.1 for connect faults. `startSilentServer` accepts connections,
 * reads and discards everything, and never answers: the server side of a connect timeout (the
 * TCP handshake succeeds, the protocol handshake never does). `startScriptedServer` runs a
 * handler of the test's own on each accepted socket (see starting-server.ts).
 */
import { createServer, type Socket } from 'node:net';

export interface SilentServer {
  readonly host: string;
  readonly port: number;
  /** Connections currently open. */
  readonly connectionCount: number;
  /** Connections accepted since start. */
  readonly acceptedCount: number;
  /** `performance.now()` of each accepted connection, in order. */
  readonly acceptedAt: readonly number[];
  /** A postgres URL pointing at this server (user, password and database are irrelevant). */
  url(databaseUrl?: string): string;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

export function startSilentServer(): Promise<SilentServer> {
  // Keep reading so the client's writes succeed; it just never hears back.
  return startScriptedServer((socket) => socket.resume());
}

/** A server that hands each accepted socket to `handle`; errors on it are ignored. */
export async function startScriptedServer(handle: (socket: Socket) => void): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const acceptedAt: number[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    acceptedAt.push(performance.now());
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    handle(socket);
  });
  server.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no port');
  const { port } = address;
  const host = '127.0.0.1';

  return {
    host,
    port,
    get connectionCount() {
      return sockets.size;
    },
    get acceptedCount() {
      return acceptedAt.length;
    },
    acceptedAt,
    url(databaseUrl = 'postgresql://silent:silent@localhost/silent') {
      const url = new URL(databaseUrl);
      url.hostname = host;
      url.port = String(port);
      url.searchParams.delete('host');
      url.searchParams.delete('port');
      return url.toString();
    },
    async close() {
      // Stop accepting first, so no connection can slip in after the sweep and hold close open.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
  };
}
