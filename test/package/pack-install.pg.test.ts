/**
 * The package as users get it, on the current Node: packed from a clean copy of the work tree
 * (prepack builds), linted, installed into a fresh project with `pg` only, then imported,
 * required, type-checked and run against the shared test database. One pack and one install,
 * shared by every assertion. scripts/pack-check.ts runs the same checks on other Node versions
 * (CI: 20.19.0, 20, 22, 24). See docs/packaging.md.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import {
  cleanUp,
  contentProblems,
  describePacked,
  install,
  lint,
  pack,
  probe,
  strayDependencies,
  typeCheck,
  type Installed,
  type Packed,
} from '../../scripts/lib/pack-check.js';

const databaseUrl = inject('databaseUrl');

describe('the packed tarball, installed in a fresh project', () => {
  let packed: Packed | undefined;
  let installed: Installed;

  beforeAll(async () => {
    packed = await pack();
    console.log(`[package] ${describePacked(packed)}`);
    installed = await install(packed);
  }, 600_000);

  afterAll(() => cleanUp(packed));

  it('ships the build, the manifest, README, LICENSE and CHANGELOG, and nothing else', () => {
    expect(contentProblems(installed.packed, installed.manifest)).toEqual([]);
    expect(installed.packed.files.filter((file) => file.endsWith('.map'))).toEqual([]);
  });

  it('exports every subpath users know', () => {
    expect(installed.subpaths).toEqual(
      expect.arrayContaining([
        'lifeguard',
        'lifeguard/pg',
        'lifeguard/metrics',
        'lifeguard/health',
        'lifeguard/dashboard',
      ]),
    );
  });

  it('installs with pg only: none of our devDependencies, no optional peers', () => {
    expect(strayDependencies(installed)).toEqual([]);
  });

  it('passes publint and Are the Types Wrong', async () => {
    const { problems } = await lint(installed.packed.tarball);
    expect(problems).toEqual([]);
  }, 120_000);

  it('type-checks every subpath under nodenext (an ESM and a CommonJS file) and bundler', async () => {
    const checked = await typeCheck(installed);
    expect(checked.map((check) => check.config)).toEqual(['nodenext', 'bundler']);
    expect(checked.flatMap((check) => check.problems)).toEqual([]);
  }, 120_000);

  it('imports and requires every subpath, queries through lifeguard/pg, and needs no optional peer', async () => {
    const probed = await probe(installed, process.execPath, databaseUrl);
    expect(probed.version).toBe(process.version);
    expect(probed.problems).toEqual([]);
  }, 120_000);
});
