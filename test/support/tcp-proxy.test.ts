/**
 * The TCP fault proxy against a scripted local server, with no database: every fault the
 * resilience tests rely on is checked here at the byte level, so a proxy that lies cannot make
 * those tests pass. (test/pg/support.test.ts checks the original modes against real pg.)
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * The server behind the proxy. A line `size N\n` makes it answer with N bytes; anything else is
 * echoed. It records whether each of its sockets was closed from the proxy's side.
 */
interface Scripted {
  server: Server;
  port: number;
  sockets: Socket[];
  closedByPeer: Set<Socket>;
}

async function startScriptedServer(): Promise<Scripted> {
  const sockets: Socket[] = [];
  const closedByPeer = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => closedByPeer.add(socket));
    socket.on('end', () => closedByPeer.add(socket));
    socket.on('close', () => closedByPeer.add(socket));
    socket.on('data', (chunk: Buffer) => {
      const match = /^size (\d+)\n$/.exec(chunk.toString());
      if (match) socket.write(Buffer.alloc(Number(match[1]), 0x61));
      else socket.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, sockets, closedByPeer };
}

/** A client socket with everything it received and how it ended. */
interface Probe {
  socket: Socket;
  received: () => number;
  text: () => string;
  /** Settles with the error code, 'end' or 'close', whichever comes first. */
  ended: Promise<string>;
  endedYet: () => string | undefined;
}

/** Connects through the proxy; resolves once connected, or once refused (see `ended`). */
async function open(proxy: TcpProxy): Promise<Probe> {
  const socket = connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let bytes = 0;
  let outcome: string | undefined;
  const ended = new Promise<string>((resolve) => {
    const settle = (how: string): void => {
      outcome ??= how;
      resolve(outcome);
    };
    socket.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? 'error'));
    socket.on('end', () => settle('end'));
    socket.on('close', () => settle('close'));
  });
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
  });
  await Promise.race([once(socket, 'connect'), ended]);
  return {
    socket,
    received: () => bytes,
    text: () => Buffer.concat(chunks).toString(),
    ended,
    endedYet: () => outcome,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('TCP fault proxy (scripted server)', () => {
  let scripted: Scripted;
  let proxy: TcpProxy;
  const probes: Probe[] = [];

  beforeAll(async () => {
    scripted = await startScriptedServer();
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: scripted.port } });
  });
  afterEach(() => {
    for (const probe of probes.splice(0)) probe.socket.destroy();
    proxy.setDelay(0);
    proxy.setBandwidth(0);
    proxy.resetAfterBytes(0);
    proxy.blackhole(false);
    proxy.refuseNew(false);
    proxy.dropAll();
  });
  afterAll(async () => {
    await proxy.close();
    scripted.server.close();
  });

  const track = async (): Promise<Probe> => {
    const probe = await open(proxy);
    probes.push(probe);
    return probe;
  };

  it('forwards both ways and counts accepted connections', async () => {
    const before = proxy.acceptedCount;
    const probe = await track();
    probe.socket.write('hello');
    await until(() => probe.text() === 'hello');
    expect(proxy.acceptedCount).toBe(before + 1);
    expect(proxy.connectionCount).toBe(1);
  });

  it('caps the bandwidth of a large answer, and delivers every byte', async () => {
    const probe = await track();
    probe.socket.write('size 2000\n'); // warm: the connection is up
    await until(() => probe.received() === 2_000);

    proxy.setBandwidth(100_000); // 100 kB/s: 40 kB take ~400 ms
    const started = Date.now();
    probe.socket.write('size 40000\n');
    await until(() => probe.received() === 42_000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(probe.text()).toBe('a'.repeat(42_000));

    proxy.setBandwidth(0);
    const uncapped = Date.now();
    probe.socket.write('size 40000\n');
    await until(() => probe.received() === 82_000);
    expect(Date.now() - uncapped).toBeLessThan(elapsed);
  });

  it('resets a connection once N bytes of the answer have flowed: a reset mid-answer', async () => {
    const probe = await track();
    proxy.resetAfterBytes(10_000, { limit: 1 });
    probe.socket.write('size 100000\n');
    // A RST that lands before the client read the partial answer reads as EOF (see the proxy).
    expect(await probe.ended).toMatch(/^(ECONNRESET|end)$/);
    expect(probe.received()).toBeGreaterThan(0);
    expect(probe.received()).toBeLessThanOrEqual(10_000);
    expect(proxy.resetCount).toBe(1);
    // The server's side is reset too.
    await until(() => scripted.closedByPeer.has(scripted.sockets.at(-1)!));

    // limit 1: the rule disarmed itself, the next connection is left alone.
    const next = await track();
    next.socket.write('size 100000\n');
    await until(() => next.received() === 100_000);
    expect(next.endedYet()).toBeUndefined();
  });

  it('counts the chosen direction only, and only from the moment it is armed', async () => {
    const probe = await track();
    probe.socket.write('x'.repeat(500));
    await until(() => probe.received() === 500);
    proxy.resetAfterBytes(600, { direction: 'up' });
    probe.socket.write('y'.repeat(500)); // 500 counted: below the limit
    await until(() => probe.received() === 1_000);
    expect(probe.endedYet()).toBeUndefined();
    probe.socket.write('z'.repeat(500)); // 1 000 counted: reset
    expect(await probe.ended).toBe('ECONNRESET');
  });

  it('half-open: the server side is closed, the client side stays open and hears nothing', async () => {
    const probe = await track();
    probe.socket.write('ping');
    await until(() => probe.text() === 'ping');
    const serverSide = scripted.sockets.at(-1)!;

    proxy.halfOpen({ finTimeoutMillis: 200 });
    await until(() => scripted.closedByPeer.has(serverSide));
    // The client can still write (nothing tells it the peer is gone) and never gets an answer.
    expect(probe.socket.write('ping again')).toBe(true);
    await sleep(300);
    expect(probe.text()).toBe('ping');
    expect(probe.endedYet()).toBeUndefined();
    expect(proxy.connectionCount).toBe(1);

    // New connections are not affected.
    const fresh = await track();
    fresh.socket.write('fresh');
    await until(() => fresh.text() === 'fresh');

    // The client's FIN goes unanswered; after finTimeoutMillis the proxy resets its side, as the
    // client's kernel would give up on the unacknowledged close.
    const closing = Date.now();
    probe.socket.end();
    expect(await probe.ended).toBe('ECONNRESET');
    expect(Date.now() - closing).toBeGreaterThanOrEqual(190);
    await until(() => proxy.connectionCount === 1);
  });

  it('delays, blackholes, refuses and drops as before', async () => {
    const probe = await track();
    proxy.setDelay(100);
    let started = Date.now();
    probe.socket.write('slow');
    await until(() => probe.text() === 'slow');
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    proxy.setDelay(0);

    proxy.blackhole(true);
    probe.socket.write('lost');
    await sleep(100);
    expect(probe.text()).toBe('slow');
    proxy.blackhole(false);

    proxy.refuseNew(true);
    const refused = await open(proxy);
    probes.push(refused);
    expect(await refused.ended).toMatch(/ECONNRESET|end|close/);
    proxy.refuseNew(false);

    const live = await track();
    started = Date.now();
    proxy.dropAll();
    expect(await live.ended).toBe('ECONNRESET');
    expect(proxy.connectionCount).toBe(0);
  });
});
