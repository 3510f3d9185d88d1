/**
 * A real TCP proxy on 127.0.0.1 that injects network faults between a client and a server:
 * latency, a black hole, abrupt resets and refused connections. All modes can be switched while
 * connections are open. Nothing keeps the process alive: the server and every timer are unref'd.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface TcpProxy {
  readonly port: number;
  readonly host: string;
  /** Client connections currently open through the proxy. */
  readonly connectionCount: number;
  /** Rewrites host and port of a postgres URL so that it goes through the proxy. */
  url(databaseUrl: string): string;
  /** Delays every chunk, in both directions, by `ms` (order is kept). 0 turns it off. */
  setDelay(ms: number): void;
  /**
   * While on, bytes are swallowed in both directions on existing connections, and new connections
   * are accepted but never connected upstream (so they stay silent even after turning it off).
   */
  blackhole(on: boolean): void;
  /** Abruptly destroys every current connection (TCP RST on both sides). */
  dropAll(): void;
  /** While on, new connections are reset as soon as they are accepted. */
  refuseNew(on: boolean): void;
  close(): Promise<void>;
}

/** Host and port of a postgres URL, for use as a proxy target. */
export function targetOf(databaseUrl: string): ProxyTarget {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port: url.port === '' ? 5432 : Number(url.port),
  };
}

interface Faults {
  delayMs: number;
  blackholed: boolean;
}

/** One direction of a proxied connection: forwards chunks, honouring delay and black hole. */
class Pipe {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private awaitingDrain = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket | undefined,
    private readonly faults: Faults,
  ) {
    from.on('data', (chunk: Buffer) => this.receive(chunk));
    from.on('end', () => {
      // A FIN falls into the black hole like everything else.
      if (this.faults.blackholed) return;
      this.ended = true;
      this.flush();
    });
  }

  private receive(chunk: Buffer): void {
    if (this.faults.blackholed || this.to === undefined) return;
    if (this.faults.delayMs <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    this.queue.push({ chunk, due: Date.now() + this.faults.delayMs });
    this.flush();
  }

  private write(chunk: Buffer): void {
    if (this.to === undefined || this.to.destroyed) return;
    // Respect backpressure so a slow reader does not make us buffer without bound.
    if (!this.to.write(chunk) && !this.awaitingDrain) {
      this.awaitingDrain = true;
      this.from.pause();
      this.to.once('drain', () => {
        this.awaitingDrain = false;
        this.from.resume();
      });
    }
  }

  /** Writes every chunk whose time has come, then waits for the next one. */
  private flush(): void {
    if (this.timer !== undefined) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      this.write(this.queue.shift()!.chunk);
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.queue[0]!.due - now);
      this.timer.unref();
    } else if (this.ended && this.to !== undefined && !this.to.destroyed) {
      this.to.end();
    }
  }

  /** Bytes already accepted are lost when the black hole opens, as they would be on a network. */
  discard(): void {
    this.queue.length = 0;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface Connection {
  client: Socket;
  upstream: Socket | undefined;
  pipes: Pipe[];
}

export async function startTcpProxy(options: {
  target: ProxyTarget;
  /** Initial delay in ms (default 0). */
  delayMs?: number;
}): Promise<TcpProxy> {
  const { target } = options;
  const faults: Faults = { delayMs: options.delayMs ?? 0, blackholed: false };
  let refusing = false;
  const connections = new Set<Connection>();

  const destroy = (connection: Connection, reset: boolean): void => {
    if (!connections.delete(connection)) return;
    for (const pipe of connection.pipes) pipe.dispose();
    for (const socket of [connection.client, connection.upstream]) {
      if (socket === undefined || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    if (refusing) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    // In a black hole nothing must reach the server, not even the connection attempt.
    const upstream = faults.blackholed
      ? undefined
      : connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    const connection: Connection = { client, upstream, pipes: [] };
    connections.add(connection);
    connection.pipes.push(new Pipe(client, upstream, faults));
    if (upstream !== undefined) connection.pipes.push(new Pipe(upstream, client, faults));

    // An error or close on either side ends both: the peer sees what a real network would show.
    for (const socket of [client, upstream]) {
      socket?.on('error', () => destroy(connection, true));
      socket?.on('close', () => destroy(connection, false));
    }
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
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const { port } = address;
  const host = '127.0.0.1';

  return {
    port,
    host,
    get connectionCount() {
      return connections.size;
    },
    url(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = host;
      url.port = String(port);
      // A `?host=/socket/dir` would override the hostname in pg; the proxy is TCP.
      url.searchParams.delete('host');
      url.searchParams.delete('port');
      return url.toString();
    },
    setDelay(ms) {
      faults.delayMs = Math.max(0, ms);
    },
    blackhole(on) {
      faults.blackholed = on;
      if (on) for (const connection of connections) for (const p of connection.pipes) p.discard();
    },
    dropAll() {
      for (const connection of [...connections]) destroy(connection, true);
    },
    refuseNew(on) {
      refusing = on;
    },
    async close() {
      // Stop accepting first, so no connection can slip in after the sweep and hold close open.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of [...connections]) destroy(connection, false);
      await closed;
    },
  };
}
