/**
 * A PostgreSQL server that is starting up, as a postmaster is between binding its port and
 * finishing recovery: it accepts each connection, reads the startup packet, answers with an
 * ErrorResponse FATAL 57P03 "the database system is starting up", and closes. `ready()` turns
 * it into a plain TCP relay to a real server, as the postmaster starts accepting sessions.
 */
import { connect, type Socket } from 'node:net';

import { startScriptedServer, type SilentServer } from './silent-server.js';
import type { ProxyTarget } from './tcp-proxy.js';

export interface StartingServer extends SilentServer {
  /** Connections answered with 57P03 so far. */
  readonly startingUpAnswers: number;
  /** From now on, new connections are relayed to the real server. */
  ready(): void;
}

/** SSLRequest and GSSENCRequest: a real server that offers neither answers 'N'. */
const kEncryptionRequests = new Set([80877103, 80877104]);

export async function startStartingServer(target: ProxyTarget): Promise<StartingServer> {
  let isReady = false;
  let answers = 0;
  const server = await startScriptedServer((socket) => {
    if (isReady) relay(socket, target);
    else
      readStartupPacket(socket, () => {
        answers++;
        socket.end(startingUpError());
      });
  });
  // Not Object.assign: it would copy the getters' values of the moment, not the getters.
  return Object.defineProperties(server as StartingServer, {
    startingUpAnswers: { get: () => answers },
    ready: { value: () => void (isReady = true) },
  });
}

/** Calls `done` once the client's StartupMessage has arrived, declining encryption first. */
function readStartupPacket(socket: Socket, done: () => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 8) {
      const length = buffered.readInt32BE(0);
      if (kEncryptionRequests.has(buffered.readInt32BE(4))) {
        buffered = buffered.subarray(8);
        socket.write('N');
        continue;
      }
      if (buffered.length < length) return;
      socket.off('data', onData);
      done();
      return;
    }
  };
  socket.on('data', onData);
}

/** What PostgreSQL sends a connection it cannot take yet (ERRCODE_CANNOT_CONNECT_NOW). */
function startingUpError(): Buffer {
  const fields: [string, string][] = [
    ['S', 'FATAL'],
    ['V', 'FATAL'],
    ['C', '57P03'],
    ['M', 'the database system is starting up'],
  ];
  const body = Buffer.concat([
    ...fields.map(([type, value]) => Buffer.from(`${type}${value}\0`)),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function relay(socket: Socket, target: ProxyTarget): void {
  const upstream = connect(target.port, target.host);
  upstream.on('error', () => socket.destroy());
  socket.on('close', () => upstream.destroy());
  upstream.on('close', () => socket.destroy());
  socket.pipe(upstream).pipe(socket);
}
