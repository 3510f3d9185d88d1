/**
 * libpq (C) doing exactly what a pipelining pool does, as a contender: bench/lib/libpq-pipeline.c
 * on `connections` connections in pipeline mode, each keeping `inFlight` queries `SELECT $1::int`
 * in flight, with a Sync after EVERY query. That Sync is what sets it apart from pgbench
 * (bench/lib/pgbench.ts), whose `\startpipeline` of N/10 queries is one transaction with one
 * Sync: each pool.query() is its own implicit transaction, so a pool must Sync each query, and
 * each Sync costs the server a ReadyForQuery and a flush. Modes, as pgbench names them:
 * - `extended`: PQsendQueryParams, an unnamed statement per query (Parse/Bind/Describe/Execute);
 * - `prepared`: each connection prepares once (PQsendPrepare), then PQsendQueryPrepared.
 *
 * The C program is compiled at run time with `cc -O2` against libpq (headers from
 * `pg_config --includedir`, else /usr/include/postgresql), into a directory of os.tmpdir() named
 * by the hash of the source and flags, so a build is reused until the source changes. Nothing
 * compiled is committed. Its password goes through PGPASSWORD, never argv.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { libpqEnv } from './pgbench.js';

export type LibpqMode = 'extended' | 'prepared';

export interface LibpqRun {
  url: string;
  applicationName: string;
  mode: LibpqMode;
  connections: number;
  inFlight: number;
  /** Load before the measured window, ms. */
  warmupMillis: number;
  /** The measured window, ms. */
  durationMillis: number;
}

/** What bench/lib/libpq-pipeline.c prints. */
export interface LibpqResult {
  /** The window actually measured, ms. */
  windowMillis: number;
  /** Queries sent and answered inside the window. */
  answered: number;
  /** Latency of those queries, ms (from the send call to the result). */
  p50: number;
  p99: number;
  /** The program's own CPU (getrusage, user + system) in the window, µs. */
  cpuMicros: number;
  /** Every query answered over the run: warm-up and drain included. */
  totalAnswered: number;
  errors: number;
  /** The libpq call that queues each Sync: `PQpipelineSync` (flushes) or `PQsendPipelineSync`. */
  sync: string;
}

const source = fileURLToPath(new URL('./libpq-pipeline.c', import.meta.url));
let built: { binary?: string; unavailable?: string } | undefined;

function pgConfig(flag: string): string | undefined {
  const probe = spawnSync('pg_config', [flag], { encoding: 'utf8' });
  return probe.error === undefined && probe.status === 0 ? probe.stdout.trim() : undefined;
}

/** Compiles the program, or finds it compiled; the binary's path or why it cannot be. */
function build(): { binary?: string; unavailable?: string } {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (cc.error !== undefined || cc.status !== 0) {
    return { unavailable: 'no C compiler (cc) on PATH (Debian: apt-get install gcc)' };
  }
  const include = pgConfig('--includedir') ?? '/usr/include/postgresql';
  if (!existsSync(join(include, 'libpq-fe.h'))) {
    return { unavailable: `no libpq-fe.h in ${include} (Debian: apt-get install libpq-dev)` };
  }
  const libdir = pgConfig('--libdir');
  const flags = ['-O2', `-I${include}`, ...(libdir ? [`-L${libdir}`] : [])];
  const hash = createHash('sha256')
    .update(readFileSync(source))
    .update(flags.join(' '))
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), `lifeguard-libpq-${hash}`);
  const binary = join(dir, 'libpq-pipeline');
  if (existsSync(binary)) return { binary };
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}`;
  const compile = spawnSync('cc', [...flags, '-o', partial, source, '-lpq'], { encoding: 'utf8' });
  if (compile.error !== undefined || compile.status !== 0) {
    rmSync(partial, { force: true });
    return { unavailable: `cc could not build ${source}:\n${compile.stderr}` };
  }
  renameSync(partial, binary); // atomic: a concurrent build finds a whole binary or none
  return { binary };
}

/** Why the libpq contenders cannot run here (compiling them if need be), or undefined. */
export function libpqUnavailable(): string | undefined {
  built ??= build();
  return built.unavailable;
}

export async function runLibpq(run: LibpqRun): Promise<LibpqResult> {
  const unavailable = libpqUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const args = [
    run.mode,
    String(run.connections),
    String(run.inFlight),
    String(run.warmupMillis),
    String(run.durationMillis),
  ];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(built!.binary!, args, {
      env: libpqEnv(run.url, run.applicationName),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`libpq-pipeline exited with ${code}:\n${err}${out}`));
    });
  });
  return JSON.parse(output) as LibpqResult;
}
