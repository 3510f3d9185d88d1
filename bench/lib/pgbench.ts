/**
 * pgbench (libpq, C) as a contender: "the server's limit" for a query load. It runs the same
 * `SELECT $1::int` with a random int on `connections` connections, keeping `inFlight` queries
 * written on each (a `\startpipeline` of that many queries per transaction), which is what N
 * concurrent callers on a pool of `connections` pipelined lanes amount to (N / connections on
 * each). Protocol mode as pgbench names it:
 * - `extended`: Parse/Bind/Execute with an unnamed statement per query (what pg and
 *   lifeguard/pg send without prepared statements);
 * - `prepared`: each connection prepares once, then Bind/Execute only.
 *
 * pgbench needs PostgreSQL 14's pgbench or newer for pipelines; it ships in Debian's
 * `postgresql-NN` server package. Its password goes through PGPASSWORD, never argv.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type PgbenchMode = 'extended' | 'prepared';

export interface PgbenchRun {
  url: string;
  applicationName: string;
  mode: PgbenchMode;
  connections: number;
  inFlight: number;
  /** Whole seconds pgbench runs (its `-T`). */
  seconds: number;
  threads?: number;
}

export interface PgbenchResult {
  /** Queries per second (transactions per second × queries per transaction). */
  qps: number;
  /** Queries answered in all. */
  queries: number;
  /** Mean latency of one query's pipeline (one transaction), ms. */
  pipelineLatencyMillis: number;
}

/** Why pgbench cannot run here, or undefined when it can. */
export function pgbenchUnavailable(): string | undefined {
  const probe = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return 'pgbench is not on PATH (Debian: apt-get install postgresql-15, or postgresql)';
  }
  const major = Number(/(\d+)/.exec(probe.stdout)?.[1]);
  return major >= 14 ? undefined : `pgbench ${major} has no pipelines (needs 14 or newer)`;
}

/** The script of one transaction: `inFlight` queries written before any answer is read. */
function script(inFlight: number): string {
  const lines = ['\\set n random(1, 1000000)', '\\startpipeline'];
  for (let i = 0; i < inFlight; i++) lines.push('SELECT :n::int;');
  lines.push('\\endpipeline', '');
  return lines.join('\n');
}

/** libpq's environment for `url`, the password included, so that argv holds none. */
export function libpqEnv(url: string, applicationName: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const host = u.searchParams.get('host') ?? decodeURIComponent(u.hostname);
  return {
    ...process.env,
    PGHOST: host,
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
    PGAPPNAME: applicationName,
  };
}

export async function runPgbench(run: PgbenchRun): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeguard-pgbench-'));
  const file = join(dir, 'select.sql');
  writeFileSync(file, script(run.inFlight));
  const args = [
    '-n', // no vacuum: the script touches no pgbench tables
    `-M${run.mode}`,
    `-c${run.connections}`,
    `-j${run.threads ?? Math.min(run.connections, 2)}`,
    `-T${run.seconds}`,
    `-f${file}`,
  ];
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('pgbench', args, {
        env: libpqEnv(run.url, run.applicationName),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(out);
        else reject(new Error(`pgbench exited with ${code}:\n${out}`));
      });
    });
    return parse(output, run.inFlight);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parse(output: string, inFlight: number): PgbenchResult {
  const transactions = Number(/actually processed: (\d+)/.exec(output)?.[1]);
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1]);
  const latency = Number(/latency average = ([\d.]+) ms/.exec(output)?.[1]);
  if (!Number.isFinite(transactions) || !Number.isFinite(tps)) {
    throw new Error(`could not read pgbench's output:\n${output}`);
  }
  return { qps: tps * inFlight, queries: transactions * inFlight, pipelineLatencyMillis: latency };
}
