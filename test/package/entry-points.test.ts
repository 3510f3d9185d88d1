import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a snippet in a fresh Node process inside the package, so `lifeguard` self-resolves
 * through the package.json `exports` map, exactly as an installed dependency would. */
async function node(args: string[], cwd: string = root): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd, timeout: 60_000 });
  return stdout.trim();
}

describe('the published entry points', () => {
  beforeAll(async () => {
    // The package is consumed from dist/, so build it as `npm run build` would.
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
      cwd: root,
      timeout: 120_000,
    });
  }, 180_000);

  it('can be imported as ESM and pools a resource', async () => {
    const out = await node([
      '--input-type=module',
      '-e',
      `import { Pool, PoolError } from 'lifeguard';
       const pool = new Pool({ create: async () => ({ n: 1 }), destroy() {} }, { max: 1 });
       const r = await pool.use((x) => x.n);
       await pool.end();
       console.log(r, typeof PoolError);`,
    ]);
    expect(out).toBe('1 function');
  });

  it('can be loaded with require() on Node >= 20.19', async () => {
    const out = await node([
      '-e',
      `const { Pool } = require('lifeguard');
       const pool = new Pool({ create: async () => 'r', destroy() {} });
       pool.acquire().then((r) => { pool.release(r); return pool.end(); }).then(() => console.log('ok', typeof Pool));`,
    ]);
    expect(out).toBe('ok function');
  });

  it('exposes lifeguard/pg with a Pool class, for import and require', async () => {
    const esm = await node([
      '--input-type=module',
      '-e',
      `import { Pool } from 'lifeguard/pg'; console.log(typeof Pool);`,
    ]);
    const cjs = await node(['-e', `console.log(typeof require('lifeguard/pg').Pool);`]);
    expect([esm, cjs]).toEqual(['function', 'function']);
  });

  it('exposes lifeguard/metrics with both exporters, for import and require', async () => {
    const esm = await node([
      '--input-type=module',
      '-e',
      `import { instrumentPrometheus, instrumentOpenTelemetry } from 'lifeguard/metrics';
       import { Pool } from 'lifeguard';
       import { Registry } from 'prom-client';
       const pool = new Pool({ create: async () => ({}), destroy() {} }, { name: 'esm' });
       const registry = new Registry();
       instrumentPrometheus(pool, { registry }).close();
       console.log(typeof instrumentPrometheus, typeof instrumentOpenTelemetry);`,
    ]);
    const cjs = await node([
      '-e',
      `const m = require('lifeguard/metrics');
       console.log(typeof m.instrumentPrometheus, typeof m.instrumentOpenTelemetry);`,
    ]);
    expect([esm, cjs]).toEqual(['function function', 'function function']);
  });

  it('imports lifeguard/metrics with neither prom-client nor @opentelemetry/api installed', async () => {
    // A bare project: lifeguard's dist alone in node_modules, no peer dependencies.
    const project = mkdtempSync(join(tmpdir(), 'lifeguard-no-peers-'));
    try {
      const installed = join(project, 'node_modules', 'lifeguard');
      cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(installed, 'package.json'));
      const out = await node(
        [
          '--input-type=module',
          '-e',
          `import { instrumentPrometheus, instrumentOpenTelemetry } from 'lifeguard/metrics';
           import { Pool } from 'lifeguard';
           const pool = new Pool({ create: async () => ({}), destroy() {} }, { name: 'bare' });
           const code = (fn) => { try { fn(); return 'none'; } catch (e) { return e.code; } };
           // With its own meter, the OpenTelemetry exporter never needs the API package.
           const callbacks = [];
           const meter = {
             createObservableCounter: () => ({}), createObservableUpDownCounter: () => ({}),
             createObservableGauge: () => ({}), createHistogram: () => ({ record() {} }),
             addBatchObservableCallback: (cb) => callbacks.push(cb),
             removeBatchObservableCallback() {},
           };
           const handle = instrumentOpenTelemetry(pool, { meter });
           let points = 0;
           callbacks[0]({ observe: () => points++ });
           handle.close();
           console.log(code(() => instrumentPrometheus(pool)), code(() => instrumentOpenTelemetry(pool)), points > 0);
           await pool.end();`,
        ],
        project,
      );
      expect(out).toBe('ERR_METRICS_PEER_MISSING ERR_METRICS_PEER_MISSING true');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('exposes lifeguard/health with its handlers, for import and require', async () => {
    const names = ['healthHandler', 'expressHealth', 'fastifyHealth', 'fastifyHealthPlugin'];
    const esm = await node([
      '--input-type=module',
      '-e',
      `import * as health from 'lifeguard/health';
       console.log(${JSON.stringify(names)}.map((n) => typeof health[n]).join(' '));`,
    ]);
    const cjs = await node([
      '-e',
      `const health = require('lifeguard/health');
       console.log(${JSON.stringify(names)}.map((n) => typeof health[n]).join(' '));`,
    ]);
    expect([esm, cjs]).toEqual(Array(2).fill('function function function function'));
  });

  it('answers a health check through lifeguard/health and lifeguard checkHealth', async () => {
    const out = await node([
      '--input-type=module',
      '-e',
      `import { Pool, checkHealth } from 'lifeguard';
       import { answerHealth } from 'lifeguard/health';
       const pool = new Pool({ create: async () => ({}), destroy() {} }, { name: 'p' });
       const answer = await answerHealth({ health: () => checkHealth(pool, () => true) });
       await pool.end();
       console.log(answer.statusCode, JSON.parse(answer.body).status);`,
    ]);
    expect(out).toBe('200 ok');
  });

  it('serves lifeguard/dashboard, for import and require', async () => {
    const esm = await node([
      '--input-type=module',
      '-e',
      `import { Pool } from 'lifeguard';
       import { startDashboard } from 'lifeguard/dashboard';
       const pool = new Pool({ create: async () => ({}), destroy() {} }, { name: 'p' });
       const dashboard = await startDashboard(pool);
       const page = await fetch(dashboard.url);
       const html = await page.text();
       await dashboard.close();
       await pool.end();
       console.log(page.status, html.includes('<title>Lifeguard dashboard: p</title>'));`,
    ]);
    const cjs = await node([
      '-e',
      `const d = require('lifeguard/dashboard');
       console.log(typeof d.createDashboard, typeof d.startDashboard);`,
    ]);
    expect([esm, cjs]).toEqual(['200 true', 'function function']);
  });

  it('exposes lifeguard/routing (budget, lanes, advise), for import and require', async () => {
    const names = ['ConnectionBudget', 'createLanes', 'advise', 'formatAdvice', 'RoutingError'];
    const esm = await node([
      '--input-type=module',
      '-e',
      `import * as routing from 'lifeguard/routing';
       import { Pool } from 'lifeguard';
       const budget = new routing.ConnectionBudget({ max: 2 });
       const pool = new Pool({ create: async () => ({}), destroy() {} }, { name: 'a', budget });
       await pool.use(() => undefined);
       const used = budget.stats().used;
       await pool.end();
       console.log(${JSON.stringify(names)}.map((n) => typeof routing[n]).join(' '), used);`,
    ]);
    const cjs = await node([
      '-e',
      `const routing = require('lifeguard/routing');
       console.log(${JSON.stringify(names)}.map((n) => typeof routing[n]).join(' '));`,
    ]);
    expect([esm, cjs]).toEqual([
      'function function function function function 1',
      'function function function function function',
    ]);
  });

  it('ships the lifeguard command, which prints its usage', async () => {
    const pkg = JSON.parse(
      await node(['-e', `console.log(JSON.stringify(require('./package.json')))`]),
    );
    const out = await node([pkg.bin.lifeguard, 'advise', '--help']);
    expect(out).toMatch(/Usage: lifeguard advise/);
  });

  it('ships type declarations next to every entry point', async () => {
    const out = await node([
      '-e',
      `const fs = require('node:fs'); const pkg = require('./package.json');
       const files = Object.values(pkg.exports).flatMap((e) => typeof e === 'string' ? [] : [e.types, e.default]);
       console.log(files.every((f) => fs.existsSync(f)));`,
    ]);
    expect(out).toBe('true');
  });
});
