/**
 * The sizing advisor against a real server: its numbers are checked against what the server
 * itself says (SHOW, pg_stat_activity), and the CLI is run as a user would run it.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { advise, formatAdvice, type AdviceReport } from '../../src/routing/index.js';
import { adminClient, createPool, databaseUrl } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function show(name: string): Promise<number | null> {
  const admin = await adminClient();
  const { rows } = await admin.query<{ setting: string }>(
    'SELECT setting FROM pg_settings WHERE name = $1',
    [name],
  );
  return rows[0] === undefined ? null : Number(rows[0].setting);
}

/** Keeps `workers` callers busy on the pool until the returned stop() is called. */
function load(pool: ReturnType<typeof createPool>, workers: number): () => Promise<void> {
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) await pool.query('SELECT pg_sleep(0.002)');
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

function app(report: AdviceReport, name: string) {
  return report.activity.byApplication.find((entry) => entry.applicationName === name);
}

describe('advise(url)', () => {
  it("reports the server's own limits, and reserved_connections where the server has it", async () => {
    const report = await advise(databaseUrl);
    const max = (await show('max_connections'))!;
    const superuser = (await show('superuser_reserved_connections'))!;
    const reserved = await show('reserved_connections');
    expect(report.server).toMatchObject({
      maxConnections: max,
      superuserReservedConnections: superuser,
      reservedConnections: reserved,
      available: max - superuser - (reserved ?? 0),
    });
    expect(report.target.kind).toBe('url');
    expect(report.pool).toBeNull();
    expect(report.formulas.demand).toBeNull();
    expect(report.formulas.seed).toBe(Math.floor(report.server.available * 0.8));
  });

  it('counts the client sessions pg_stat_activity shows, without its own', async () => {
    const admin = await adminClient();
    await admin.query("SET application_name = 'advise-test-admin'");
    const before = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'",
    );
    const report = await advise({ url: databaseUrl });
    expect(report.activity.connections).toBe(before.rows[0]!.n);
    expect(report.headroom).toBe(report.server.available - before.rows[0]!.n);
    expect(app(report, 'advise-test-admin')).toMatchObject({ total: 1, states: { idle: 1 } });
    expect(app(report, 'lifeguard-advise')).toBeUndefined();
  });

  it('warns of a session left idle in transaction, with its application and age', async () => {
    const idle = await adminClient();
    await idle.query("SET application_name = 'advise-test-idle'");
    await idle.query('BEGIN');
    await idle.query('SELECT 1');
    const report = await advise(databaseUrl);
    expect(app(report, 'advise-test-idle')).toMatchObject({
      total: 1,
      idleInTransaction: 1,
      states: { 'idle in transaction': 1 },
    });
    expect(app(report, 'advise-test-idle')!.oldestIdleInTransactionMillis).toBeGreaterThanOrEqual(
      0,
    );
    expect(report.activity.idleInTransaction).toBeGreaterThanOrEqual(1);
    const warning = report.warnings.find((w) => w.code === 'idle-in-transaction');
    expect(warning?.message).toMatch(/advise-test-idle: 1/);
    await idle.query('ROLLBACK');
    const after = await advise(databaseUrl);
    expect(app(after, 'advise-test-idle')).toMatchObject({ idleInTransaction: 0 });
  });

  it('takes serverCores for the HikariCP baseline, and instances for the seed', async () => {
    const report = await advise(databaseUrl, { serverCores: 4, spindles: 0, appInstances: 3 });
    expect(report.server.cores).toEqual({ value: 4, source: 'option' });
    expect(report.formulas).toMatchObject({ hikari: 8, hikariPerInstance: 2, appInstances: 3 });
    expect(report.formulas.seed).toBe(Math.floor((report.server.available / 3) * 0.8));
    expect(report.recommendation.max).toBe(2);
  });

  it('fails with a one-line error, no password, for a server that refuses', async () => {
    const error = (await advise('postgres://someone:hunter2@127.0.0.1:1/db', {
      connectTimeoutMillis: 2_000,
    }).catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ name: 'AdviseError', code: 'ERR_LIFEGUARD_ADVISE' });
    expect(error.message).toMatch(/^cannot read the server at 127\.0\.0\.1:1\/db: .*ECONNREFUSED/);
    expect(error.message).not.toMatch(/hunter2|\n/);
  });
});

describe('advise(pool)', () => {
  it("measures the pool's arrival rate and hold time under load, and its sessions", async () => {
    const pool = createPool({
      max: 3,
      application_name: 'advise-test-load',
      pipelineQueries: false,
    });
    const stop = load(pool, 3);
    const report = await advise(pool, { sampleMillis: 300 });
    await stop();
    expect(report.target.kind).toBe('pool');
    expect(report.pool).toMatchObject({ max: 3, name: pool.name });
    const sample = report.pool!;
    expect(sample.acquires).toBeGreaterThan(0);
    expect(sample.arrivalPerSecond).toBeGreaterThan(0);
    expect(sample.holdMeanMillis).toBeGreaterThanOrEqual(2); // pg_sleep(0.002) at the least
    const demand = report.formulas.demand!;
    expect(demand.meanConnections).toBeCloseTo(
      (demand.arrivalPerSecond * demand.holdMeanMillis) / 1000,
      1,
    );
    // Three callers on three connections: never more than three busy on average.
    expect(demand.meanConnections).toBeGreaterThan(0);
    expect(demand.meanConnections).toBeLessThanOrEqual(3.5);
    expect(app(report, 'advise-test-load')?.total).toBe(3);
    expect(report.recommendation.max).toBeGreaterThanOrEqual(2);
    expect(report.recommendation.max).toBeLessThanOrEqual(report.formulas.seed);
  });

  it('warns of waiting callers when the pool is smaller than its load', async () => {
    const pool = createPool({ max: 1, pipelineQueries: false });
    const stop = load(pool, 4);
    const report = await advise(pool, { sampleMillis: 200 });
    await stop();
    expect(report.pool!.waitedAcquires).toBeGreaterThan(0);
    expect(report.warnings.map((w) => w.code)).toContain('waiting-callers');
  });

  it('with sampleMillis 0 reads the lifetime counters since the given time', async () => {
    const since = Date.now();
    const pool = createPool({ max: 2, pipelineQueries: false });
    for (let i = 0; i < 20; i++) await pool.query('SELECT 1');
    // Read synchronously, before the advisor's own queries go through the pool.
    const report = await advise(pool, { sampleMillis: 0, since });
    expect(report.pool!.acquires).toBe(20);
    expect(report.pool!.arrivalPerSecond).toBeGreaterThan(0);
    const blind = await advise(pool, { sampleMillis: 0 });
    expect(blind.pool!.arrivalPerSecond).toBeNull();
    expect(blind.formulas.demand).toBeNull();
    expect(formatAdvice(blind)).toContain(`Pool ${pool.name}`);
  });
});

describe('lifeguard advise (CLI)', () => {
  let silent: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => (silent ? silent.close(resolve) : resolve(undefined)));
    silent = undefined;
  });

  function cli(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        'npx',
        ['tsx', 'src/cli/index.ts', 'advise', ...args],
        { cwd: root, timeout: 60_000, env: { ...process.env, DATABASE_URL: '', ...env } },
        (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr });
        },
      );
    });
  }

  it('prints the report as JSON, the same numbers the server shows', async () => {
    const { code, stdout } = await cli([
      '--url',
      databaseUrl,
      '--instances',
      '2',
      '--cores',
      '2',
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as AdviceReport;
    expect(report.server.maxConnections).toBe(await show('max_connections'));
    expect(report.formulas).toMatchObject({ appInstances: 2, hikari: 5, hikariPerInstance: 2 });
    expect(report.recommendation.max).toBe(2);
  });

  it('falls back to DATABASE_URL, and prints text without --json', async () => {
    const { code, stdout } = await cli([], { DATABASE_URL: databaseUrl });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Lifeguard pool sizing for /);
    expect(stdout).toContain('Recommended: max ');
    const password = new URL(databaseUrl).password;
    if (password !== '') expect(stdout).not.toContain(password);
  });

  it('exits 1 with one line and no password for a bad URL or a refusing server', async () => {
    const bad = await cli(['--url', 'hunter2']);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toBe(
      'lifeguard advise: not a URL (expected postgres://user@host:port/database)\n',
    );
    const refused = await cli(['--url', 'postgres://someone:hunter2@127.0.0.1:1/db']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^lifeguard advise: cannot read the server at 127\.0\.0\.1:1\/db: .*ECONNREFUSED.*\n$/,
    );
    expect(refused.stderr + refused.stdout).not.toContain('hunter2');
  });

  it('gives up on a server that accepts and never answers, after --timeout', async () => {
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const result = await cli([
      '--url',
      `postgres://someone:hunter2@127.0.0.1:${port}/db`,
      '--timeout',
      '500',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      // The query's acquire timeout or the circuit opened by the connect's own timeout, which
      // come in either order: both name the timeout.
      /^lifeguard advise: cannot read the server at 127\.0\.0\.1:\d+\/db: .*(timeout|timed out after 500 ms)/i,
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('refuses a missing URL and bad numbers', async () => {
    const none = await cli([]);
    expect(none).toMatchObject({
      code: 1,
      stderr: 'lifeguard advise: no --url given and DATABASE_URL is not set\n',
    });
    const bad = await cli(['--url', databaseUrl, '--instances', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--instances <n>.*expected an integer >= 1/);
  });
});
