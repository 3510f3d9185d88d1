import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a snippet in a fresh Node process inside the package, so `lifeguard` self-resolves
 * through the package.json `exports` map, exactly as an installed dependency would. */
async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: root, timeout: 60_000 });
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
