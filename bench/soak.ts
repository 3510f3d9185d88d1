/**
 * The soak: lifeguard/pg under mixed load and random faults (proxy latency, bandwidth caps,
 * resets, refused and half-open connections, black holes, pg_terminate_backend, server
 * restarts) on its own embedded server, then a verdict: zero hung calls, every error typed, no
 * checkout or session left behind, flat heap and connection counts. Exits 1 on failure.
 * Logic in bench/lib/soak.ts (shared with the 60 s CI version, test/pg/soak.test.ts).
 *
 *   npx tsx --expose-gc bench/soak.ts [--duration 600] [--seed N] [--quiet]
 */
import { parseArgs } from 'node:util';

import { redactUrl, startEmbeddedDatabase } from '../scripts/lib/database.js';
import { machineInfo, writeResults } from './lib/harness.js';
import { runSoak } from './lib/soak.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    seed: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const durationMillis = Number(values.duration) * 1000;
const started = Date.now();
const stamp = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;

const db = await startEmbeddedDatabase();
console.log(`embedded server ${redactUrl(db.url)}; soaking for ${durationMillis / 1000} s`);
// Every timer of the run is unref'd: this keeps the process alive while a restart leaves no
// socket open.
const keepAlive = setInterval(() => undefined, 1_000);
let failed = true;
try {
  const report = await runSoak({
    db,
    durationMillis,
    ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
    ...(values.quiet ? {} : { log: (line: string) => console.log(`${stamp()}  ${line}`) }),
  });
  const { samples, ...summary } = report;
  console.log(`\nseed ${report.seed}: ${report.calls} calls, ${report.succeeded} succeeded`);
  console.log('faults:', report.faults);
  console.log('errors by code:', report.errorsByCode);
  console.log('errors by pool:operation:', report.errorsByOperation);
  console.log(
    `heap (after GC) first third ${report.heapFirstThirdMB} MB, last third ${report.heapLastThirdMB} MB; ` +
      `connections ${report.connectionsFirstThird} -> ${report.connectionsLastThird}; ` +
      `server sessions at end ${report.serverBackendsAtEnd}; end() ${report.endMillis} ms; hung ${report.hung.length}`,
  );
  const file = writeResults('soak', { machine: machineInfo(), ...summary, samples });
  console.log(`results: ${file}`);
  failed = report.failures.length > 0;
  console.log(failed ? `\nFAILED:\n- ${report.failures.join('\n- ')}` : '\nPASSED');
} finally {
  clearInterval(keepAlive);
  await db.stop();
}
process.exitCode = failed ? 1 : 0;
