/**
 * Where scenarios connect to when the database is not supposed to answer normally. Each URL is
 * made once per test file, so both implementations in a test meet the same port, and error
 * messages that name it compare equal.
 */
import { createServer, type Server } from 'node:net';

import { afterAll, beforeAll } from 'vitest';

import { startSilentServer, type SilentServer } from '../../support/silent-server.js';
import { databaseUrl } from '../helpers.js';

/** The shared test database, with a password it does not accept (it uses scram-sha-256). */
export function wrongPasswordUrl(): string {
  const url = new URL(databaseUrl);
  url.password = 'not-the-password';
  return url.toString();
}

/** The shared test server, naming a database that does not exist. */
export function unknownDatabaseUrl(): string {
  const url = new URL(databaseUrl);
  url.pathname = '/lifeguard_no_such_database';
  return url.toString();
}

let closedPort: Promise<number> | undefined;

/** A port that was just free and is now closed: connecting is refused (ECONNREFUSED). */
export async function refusedUrl(): Promise<string> {
  closedPort ??= freePort();
  return urlAt(await closedPort);
}

/**
 * A server that accepts and never answers (a connect timeout). Call at the top of a test file:
 * it runs for the file's tests; the returned function gives its URL.
 */
export function useSilentServer(): () => string {
  let server: SilentServer | undefined;
  beforeAll(async () => {
    server = await startSilentServer();
  });
  afterAll(() => server?.close());
  return () => started(server).url(databaseUrl);
}

/** A server that accepts each connection and destroys it at once (a reset mid-handshake). */
export function useResettingServer(): () => string {
  const server = createServer((socket) => socket.destroy());
  let port: number | undefined;
  beforeAll(async () => {
    port = await listen(server);
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  return () => urlAt(started(port));
}

function started<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('use the server inside a test, once it has started');
  return value;
}

function urlAt(port: number): string {
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no port'));
      else resolve(address.port);
    });
  });
}
