/**
 * A real, private PgBouncer in front of a test database: its own config in a fresh temp dir, a free
 * port on 127.0.0.1, no Unix socket, and a small server pool (default 2) so that server
 * connections really are shared between clients. As root it runs as the `postgres` user
 * (`-u postgres`), since PgBouncer refuses to run as root.
 *
 * Clients log in with the user and password of the target URL (md5 against a userlist that holds
 * the plain password, which PgBouncer also uses for its own SCRAM/md5 login to the server).
 * Nothing here prints the password; stop() kills the process and removes the temp dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { findFreePort, postgresUserIds } from '../../scripts/lib/database.js';

export type PoolMode = 'transaction' | 'session';

export interface PgBouncerOptions {
  /** Target server; its user and password are also what clients log in with. */
  databaseUrl: string;
  poolMode: PoolMode;
  /** Server connections per database/user pair. Default 2. */
  defaultPoolSize?: number;
}

export interface PgBouncer {
  /** Connection string through the bouncer (contains the password: do not print). */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Why the PgBouncer tests cannot run here, or `undefined` when the binary is on PATH. */
export const pgbouncerUnavailable: string | undefined = findBinary('pgbouncer')
  ? undefined
  : 'the `pgbouncer` binary is not on PATH (apt-get install -y pgbouncer; .ci/run installs it)';

function findBinary(name: string): boolean {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.trim() !== '';
}

/** A value for pgbouncer.ini / its libpq-style connstrings, quoted when needed. */
function connstringValue(value: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(value)
    ? value
    : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A name for the `[databases]` section (left of `=`), quoted when needed. */
function iniName(value: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(value) ? value : `"${value.replace(/"/g, '""')}"`;
}

function userlistEntry(user: string, password: string): string {
  const quote = (value: string): string => `"${value.replace(/"/g, '""')}"`;
  return `${quote(user)} ${quote(password)}\n`;
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  if (pgbouncerUnavailable !== undefined) throw new Error(pgbouncerUnavailable);
  const target = new URL(options.databaseUrl);
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const serverPort = target.port === '' ? 5432 : Number(target.port);
  const user = decodeURIComponent(target.username) || 'postgres';
  const password = decodeURIComponent(target.password);
  const dbname = decodeURIComponent(target.pathname.replace(/^\//, '')) || user;
  const port = await findFreePort();

  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'lifeguard-pgbouncer-'));
  const configPath = join(dir, 'pgbouncer.ini');
  const userlistPath = join(dir, 'userlist.txt');

  const config = [
    '[databases]',
    `${iniName(dbname)} = host=${connstringValue(host)} port=${serverPort} dbname=${connstringValue(dbname)}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    // md5 needs a password; a target without one (a local server on trust, as DATABASE_URL
    // may be) is reached on trust, the user still listed in the auth file.
    `auth_type = ${password === '' ? 'trust' : 'md5'}`,
    `auth_file = ${userlistPath}`,
    `pool_mode = ${options.poolMode}`,
    'max_client_conn = 200',
    `default_pool_size = ${options.defaultPoolSize ?? 2}`,
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    // pg may send these as startup parameters; lifeguard/pg sets its timeouts as SQL instead.
    'ignore_startup_parameters = extra_float_digits,options,statement_timeout,lock_timeout,idle_in_transaction_session_timeout',
    'server_tls_sslmode = disable',
    'log_connections = 0',
    'log_disconnections = 0',
    'log_pooler_errors = 1',
    '',
  ].join('\n');
  writeFileSync(configPath, config, { mode: 0o600 });
  writeFileSync(userlistPath, userlistEntry(user, password), { mode: 0o600 });

  const args = [configPath];
  if (asRoot) {
    // Owned by the user PgBouncer switches to, and private to it: the userlist holds a password.
    for (const path of [dir, configPath, userlistPath]) chownSync(path, ...postgresIds());
    chmodSync(dir, 0o700);
    args.unshift('-u', 'postgres');
  }

  const child = spawn('pgbouncer', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const recentLog: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    recentLog.push(chunk);
    if (recentLog.length > 40) recentLog.shift();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });

  const cleanup = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM'); // immediate shutdown; SIGINT would wait for clients
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exit;
      clearTimeout(killTimer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForListening(port, () => exited);
  } catch (error) {
    await cleanup();
    // PgBouncer's log names files and ports, never the password.
    throw new Error(`${(error as Error).message}; pgbouncer said:\n${recentLog.join('')}`);
  }

  const url = new URL(options.databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  url.search = '';
  return { url: url.toString(), port, stop: cleanup };
}

function postgresIds(): [number, number] {
  const ids = postgresUserIds();
  if (ids === undefined) {
    throw new Error('running as root, but there is no `postgres` user to run pgbouncer as');
  }
  return [ids.uid, ids.gid];
}

/** Resolves once something accepts TCP connections on the port; rejects if pgbouncer exits. */
async function waitForListening(port: number, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (hasExited()) throw new Error('pgbouncer exited during startup');
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${port} in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
