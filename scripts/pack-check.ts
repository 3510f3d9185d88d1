/**
 * Packs Lifeguard as a clean clone would, lints the tarball (publint, attw), installs it into a
 * fresh project with `pg` only, type-checks a consumer (nodenext, bundler), and on each Node
 * asked for imports and require()s every subpath, runs a query through lifeguard/pg and checks
 * that lifeguard/metrics works without its optional peers. See docs/packaging.md.
 *
 *   npx tsx scripts/pack-check.ts                          # the current Node only
 *   npx tsx scripts/pack-check.ts --node 20.19.0,20,22,24  # Node binaries from the registry
 *
 * Options: --node <versions> (comma-separated; `current` is this Node), --keep (leave the
 * temporary folder). The database is DATABASE_URL / PG* if set, else an embedded PostgreSQL.
 * Exits 1 if any check finds a problem.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { redactUrl, startDatabase } from './lib/database.js';
import {
  cleanUp,
  contentProblems,
  describePacked,
  install,
  installNode,
  lint,
  pack,
  probe,
  strayDependencies,
  typeCheck,
  type Installed,
  type Packed,
} from './lib/pack-check.js';

const { values } = parseArgs({
  options: {
    node: { type: 'string', default: 'current' },
    keep: { type: 'boolean', default: false },
  },
});
const versions = values.node
  .split(',')
  .map((version) => version.trim())
  .filter((version) => version !== '');

const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const problems: string[] = [];
const report = (name: string, found: readonly string[]): void => {
  console.log(`${found.length === 0 ? 'ok  ' : 'FAIL'} ${name} (${elapsed()})`);
  for (const problem of found) console.log(`     ${problem.replaceAll('\n', '\n     ')}`);
  problems.push(...found);
};

let packed: Packed | undefined;
const database = await startDatabase();
try {
  console.log(`database ${redactUrl(database.url)}`);
  packed = await pack();
  console.log(describePacked(packed));
  const installed: Installed = await install(packed);
  report('contents', contentProblems(packed, installed.manifest));
  report('installed with pg only', strayDependencies(installed));
  const linted = await lint(packed.tarball);
  report('publint and attw', linted.problems);
  if (linted.problems.length === 0) console.log(linted.output.trim().replace(/^/gm, '     '));
  for (const checked of await typeCheck(installed)) {
    report(`types (${checked.config})`, checked.problems);
    for (const line of checked.known) console.log(`     known issue: ${line}`);
  }
  for (const version of versions) {
    // Each downloaded Node (150-190 MB) is removed before the next one is installed.
    const into = mkdtempSync(join(packed.dir, 'node-'));
    try {
      const node = version === 'current' ? process.execPath : await installNode(version, into);
      const probed = await probe(installed, node, database.url);
      report(`node ${probed.version}: import, require(), query, optional peers`, probed.problems);
      if (probed.stderr !== '') console.log(`     stderr: ${probed.stderr}`);
    } finally {
      rmSync(into, { recursive: true, force: true });
    }
  }
} catch (error) {
  problems.push(String(error));
  console.error(error);
} finally {
  if (values.keep && packed !== undefined) console.log(`kept ${packed.dir}`);
  else cleanUp(packed);
  await database.stop();
}
console.log(
  problems.length === 0
    ? `pack check passed in ${elapsed()}`
    : `pack check: ${problems.length} problem(s)`,
);
process.exitCode = problems.length === 0 ? 0 : 1;
