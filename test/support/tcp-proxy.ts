/**
 * A real TCP proxy on 127.0.0.1 that injects network faults between a client and a server:
 * latency, a bandwidth cap, a black hole, abrupt resets (at once, or once traffic flows),
 * half-open connections and refused connections. All modes can be switched while connections
 * are open. Nothing keeps the process alive: the server and every timer are unref'd.
 *
 * What a userland proxy cannot fake: the client's kernel always talks to the proxy's kernel,
 * so TCP keepalive probes on a "half-open" connection are still acknowledged. Half-open here
 * means the application on the other side vanished without a FIN; detection must come from the
 * protocol (a validation or a query that gets no answer), which is what a pool controls.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface ProxyTarget {
  host: string;
  port: number;
}

/** Which way bytes flow: `up` from the client to the server, `down` from the server back. */
export type Direction = 'up' | 'down';

export interface ResetAfterBytesOptions {
  /** Which direction's bytes are counted (default `down`: the server's answer). */
  direction?: Direction;
  /** How many connections to reset before the rule disarms itself (default: no limit). */
  limit?: number;
}

export interface TcpProxy {
  readonly port: number;
  readonly host: string;
  /** Client connections currently open through the proxy (half-open ones included). */
  readonly connectionCount: number;
  /** Client connections accepted since start, refused ones included. */
  readonly acceptedCount: number;
  /** Connections reset by `resetAfterBytes` so far. */
  readonly resetCount: number;
  /** Rewrites host and port of a postgres URL so that it goes through the proxy. */
  url(databaseUrl: string): string;
  /** Delays every chunk, in both directions, by `ms` (order is kept). 0 turns it off. */
  setDelay(ms: number): void;
  /**
   * Caps each connection, in each direction, at `bytesPerSecond` (bytes are released in slices
   * of 20 ms worth, so a large answer trickles rather than arriving in bursts). 0 turns it off.
   * Applies to open connections at once.
   */
  setBandwidth(bytesPerSecond: number): void;
  /**
   * While on, bytes are swallowed in both directions on existing connections, and new connections
   * are accepted but never connected upstream (so they stay silent even after turning it off).
   */
  blackhole(on: boolean): void;
  /** Abruptly destroys every current connection (TCP RST on both sides). */
  dropAll(): void;
  /**
   * Arms a reset once traffic flows: each connection (open now or opened later) is reset on both
   * sides as soon as it has carried `bytes` bytes in `direction` since this call. Bytes are
   * counted as they reach the proxy; the part of a chunk up to the limit is forwarded first, so
   * the client sees a partial answer and then ECONNRESET: a reset in the middle of a query.
   * `resetAfterBytes(0)` disarms.
   */
  resetAfterBytes(bytes: number, options?: ResetAfterBytesOptions): void;
  /**
   * The server vanishes from under every open connection without a FIN: the upstream socket is
   * destroyed (so PostgreSQL sees its client gone and ends the session), while the client's
   * socket stays open, its bytes are read and dropped, and it never hears anything again.
   * New connections are not affected. Once the client sends its own FIN, the proxy's socket is
   * reset after `finTimeoutMillis` (default 2 000), as the client's kernel would eventually
   * give up on an unacknowledged close: until then the proxy keeps counting it.
   */
  halfOpen(options?: { finTimeoutMillis?: number }): void;
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
  bytesPerSecond: number;
}

/** The armed reset rule; `epoch` tells connections that a new rule started counting afresh. */
interface ResetRule {
  bytes: number;
  direction: Direction;
  remaining: number;
  epoch: number;
}

/** A pipe's view of its connection: asked before forwarding whether the chunk must be cut. */
interface Traffic {
  /** Bytes of this chunk to forward before resetting the connection, or undefined for all. */
  resetWithin(direction: Direction, length: number): number | undefined;
  reset(): void;
  /** The client closed its side of a half-open connection. */
  finUnanswered(): void;
}

/** Queued bytes above which the sending side is paused: a capped link must not buffer forever. */
const kQueueHighWaterBytes = 1 << 20;
/** A bandwidth cap releases bytes in slices worth this many milliseconds. */
const kBandwidthSliceMillis = 20;

/**
 * One direction of a proxied connection: forwards chunks, honouring delay, bandwidth, black
 * hole, reset rule and half-open.
 */
class Pipe {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private awaitingDrain = false;
  /** When the bandwidth cap next lets a byte through. */
  private nextFree = 0;
  /** Half-open: read and drop everything, answer nothing, never close. */
  private swallowing = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket | undefined,
    private readonly direction: Direction,
    private readonly faults: Faults,
    private readonly traffic: Traffic,
  ) {
    from.on('data', (chunk: Buffer) => this.receive(chunk));
    from.on('end', () => {
      // A FIN falls into the black hole like everything else, and nobody hears it on a
      // half-open connection.
      if (this.swallowing) this.traffic.finUnanswered();
      if (this.faults.blackholed || this.swallowing) return;
      this.ended = true;
      this.flush();
    });
  }

  private receive(chunk: Buffer): void {
    if (this.swallowing || this.faults.blackholed || this.to === undefined) return;
    const cut = this.traffic.resetWithin(this.direction, chunk.length);
    if (cut !== undefined) {
      // Bytes still queued behind a delay are lost with the connection, as on a network. The
      // reset waits for the prefix to be written (a reset from inside the write's own callback
      // is lost). If the client has not read the prefix when the RST lands, its kernel reports
      // EOF instead of ECONNRESET: either way, the connection broke in mid-answer.
      if (cut > 0 && this.queue.length === 0 && this.to !== undefined && !this.to.destroyed) {
        this.to.write(chunk.subarray(0, cut), () => setImmediate(() => this.traffic.reset()));
      } else {
        this.traffic.reset();
      }
      // Nothing more is forwarded in either direction meanwhile.
      this.swallowing = true;
      return;
    }
    const rate = this.faults.bytesPerSecond;
    if (this.faults.delayMs <= 0 && rate <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    const now = Date.now();
    if (rate <= 0) {
      this.enqueue(chunk, now + this.faults.delayMs);
    } else {
      // Each slice leaves when the link is free, and never before its delay is over.
      const slice = Math.max(1, Math.floor((rate * kBandwidthSliceMillis) / 1000));
      for (let offset = 0; offset < chunk.length; offset += slice) {
        const part = chunk.subarray(offset, offset + slice);
        const due = Math.max(now + this.faults.delayMs, this.nextFree);
        this.nextFree = due + (part.length * 1000) / rate;
        this.enqueue(part, due);
      }
    }
    this.flush();
  }

  private enqueue(chunk: Buffer, due: number): void {
    this.queue.push({ chunk, due });
    this.queuedBytes += chunk.length;
    this.updateFlow();
  }

  private write(chunk: Buffer): void {
    if (this.to === undefined || this.to.destroyed) return;
    // Respect backpressure so a slow reader does not make us buffer without bound.
    if (!this.to.write(chunk) && !this.awaitingDrain) {
      this.awaitingDrain = true;
      this.updateFlow();
      this.to.once('drain', () => {
        this.awaitingDrain = false;
        this.updateFlow();
      });
    }
  }

  /** Reads from the sender only while neither the receiver nor our own queue is full. */
  private updateFlow(): void {
    if (this.swallowing || this.from.destroyed) return;
    if (this.awaitingDrain || this.queuedBytes > kQueueHighWaterBytes) this.from.pause();
    else this.from.resume();
  }

  /** Writes every chunk whose time has come, then waits for the next one. */
  private flush(): void {
    if (this.timer !== undefined) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.write(chunk);
    }
    this.updateFlow();
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
    this.queuedBytes = 0;
    this.updateFlow();
  }

  /** From now on, read and drop everything: the other end has vanished. */
  swallow(): void {
    this.dispose();
    this.swallowing = true;
    // Keep reading, so the client's writes succeed and nothing tells it the peer is gone.
    this.from.resume();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}

interface Connection {
  client: Socket;
  upstream: Socket | undefined;
  /** [client → server, server → client] */
  pipes: Pipe[];
  /** The server vanished: the client side stays open and silent until it closes itself. */
  halfOpen: boolean;
  /** Bytes counted towards the reset rule of `epoch`. */
  counted: { epoch: number; bytes: number };
  /** How long a half-open connection lingers after the client's FIN (see `halfOpen`). */
  finTimeoutMillis: number;
}

export async function startTcpProxy(options: {
  target: ProxyTarget;
  /** Initial delay in ms (default 0). */
  delayMs?: number;
}): Promise<TcpProxy> {
  const { target } = options;
  const faults: Faults = { delayMs: options.delayMs ?? 0, blackholed: false, bytesPerSecond: 0 };
  let refusing = false;
  let accepted = 0;
  let resets = 0;
  let resetRule: ResetRule | undefined;
  let resetEpoch = 0;
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

  const trafficOf = (connection: Connection): Traffic => ({
    resetWithin(direction, length) {
      const rule = resetRule;
      if (rule === undefined || rule.direction !== direction) return undefined;
      const counted = connection.counted;
      if (counted.epoch !== rule.epoch) {
        counted.epoch = rule.epoch;
        counted.bytes = 0;
      }
      const left = rule.bytes - counted.bytes;
      counted.bytes += length;
      if (length < left) return undefined;
      if (--rule.remaining <= 0) resetRule = undefined;
      return left;
    },
    reset() {
      resets++;
      destroy(connection, true);
    },
    finUnanswered() {
      // The client's kernel would retransmit its FIN and give up eventually; meanwhile nothing
      // is observable. Without this, a client that closed would hold the proxy's socket forever.
      const timer = setTimeout(() => destroy(connection, true), connection.finTimeoutMillis);
      timer.unref();
    },
  });

  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    accepted++;
    if (refusing) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    // In a black hole nothing must reach the server, not even the connection attempt.
    const upstream = faults.blackholed
      ? undefined
      : connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    const connection: Connection = {
      client,
      upstream,
      pipes: [],
      halfOpen: false,
      counted: { epoch: -1, bytes: 0 },
      finTimeoutMillis: 0,
    };
    connections.add(connection);
    const traffic = trafficOf(connection);
    connection.pipes.push(new Pipe(client, upstream, 'up', faults, traffic));
    if (upstream !== undefined) {
      connection.pipes.push(new Pipe(upstream, client, 'down', faults, traffic));
    }

    // An error or close on either side ends both: the peer sees what a real network would show.
    // Except on a half-open connection, where the server's side is already gone on purpose.
    client.on('error', () => destroy(connection, true));
    client.on('close', () => destroy(connection, false));
    upstream?.on('error', () => {
      if (!connection.halfOpen) destroy(connection, true);
    });
    upstream?.on('close', () => {
      if (!connection.halfOpen) destroy(connection, false);
    });
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
    get acceptedCount() {
      return accepted;
    },
    get resetCount() {
      return resets;
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
    setBandwidth(bytesPerSecond) {
      if (!(bytesPerSecond >= 0)) throw new RangeError('bytesPerSecond must be >= 0');
      faults.bytesPerSecond = bytesPerSecond;
    },
    blackhole(on) {
      faults.blackholed = on;
      if (on) for (const connection of connections) for (const p of connection.pipes) p.discard();
    },
    dropAll() {
      for (const connection of [...connections]) destroy(connection, true);
    },
    resetAfterBytes(bytes, resetOptions = {}) {
      if (!(bytes >= 0)) throw new RangeError('bytes must be >= 0');
      const limit = resetOptions.limit ?? Infinity;
      resetRule =
        bytes === 0 || limit <= 0
          ? undefined
          : {
              bytes,
              direction: resetOptions.direction ?? 'down',
              remaining: limit,
              epoch: ++resetEpoch,
            };
    },
    halfOpen(halfOpenOptions = {}) {
      const finTimeoutMillis = halfOpenOptions.finTimeoutMillis ?? 2_000;
      for (const connection of connections) {
        if (connection.halfOpen) continue;
        connection.halfOpen = true;
        connection.finTimeoutMillis = finTimeoutMillis;
        for (const pipe of connection.pipes) pipe.swallow();
        // Gone without a word to the client; PostgreSQL sees its client vanish and cleans up.
        connection.upstream?.destroy();
      }
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
