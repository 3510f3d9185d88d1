/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and
 * self time grouped by where the code lives (lifeguard's src/, pg, postgres.js, Node internals,
 * GC, idle). For finding what lifeguard's query path costs compared with the driver under it.
 *
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/pg.ts --only lifeguard
 *   npx tsx bench/lib/profile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 30] [--filter src/]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { table } from '../../scripts/lib/report.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where a frame's code lives, coarsely. */
function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(program)') return '(program)';
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/node_modules/pg/') || url.includes('/node_modules/pg-protocol/')) return 'pg';
  if (url.includes('/node_modules/postgres/')) return 'postgres.js';
  if (url.includes('/node_modules/')) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    return match?.[1] ?? 'node_modules';
  }
  if (url.includes('/src/')) return 'lifeguard src/';
  if (url.includes('/bench/') || url.includes('/scripts/')) return 'bench harness';
  return 'other';
}

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  const path = frame.url.startsWith('file://')
    ? relative(ROOT, fileURLToPath(frame.url))
    : frame.url;
  return `${path}:${frame.lineNumber + 1}`;
}

function summarise(profile: CpuProfile, top: number, filter?: string): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }

  const total = profile.endTime - profile.startTime;
  let idle = 0;
  const byFunction = new Map<string, { name: string; where: string; area: string; us: number }>();
  const byArea = new Map<string, number>();
  for (const [id, us] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const a = area(frame);
    if (a === '(idle)') idle += us;
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    const w = where(frame);
    const key = `${frame.functionName}@${w}`;
    const entry = byFunction.get(key) ?? {
      name: frame.functionName || '(anonymous)',
      where: w,
      area: a,
      us: 0,
    };
    entry.us += us;
    byFunction.set(key, entry);
  }
  const busy = total - idle;
  const pct = (us: number, of: number): string => `${((us * 100) / of).toFixed(1)}%`;

  const areas = [...byArea]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => [
      name,
      `${(us / 1000).toFixed(0)} ms`,
      pct(us, total),
      name === '(idle)' ? '' : pct(us, busy),
    ]);
  const functions = [...byFunction.values()]
    .filter((f) => f.area !== '(idle)')
    .filter((f) => filter === undefined || f.where.includes(filter))
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => [f.name, `${(f.us / 1000).toFixed(0)} ms`, pct(f.us, busy), f.area, f.where]);

  return [
    `profile: ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s ` +
      `(${pct(busy, total)}), ${profile.samples.length} samples\n`,
    'self time by area\n',
    table(['area', 'self', 'of total', 'of busy'], areas),
    `\ntop ${top} functions by self time${filter === undefined ? '' : ` (location contains ${JSON.stringify(filter)})`}\n`,
    table(['function', 'self', 'of busy', 'area', 'location'], functions, [
      'l',
      'r',
      'r',
      'l',
      'l',
    ]),
  ].join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    filter: { type: 'string' },
  },
});
if (positionals.length === 0) {
  console.error('usage: npx tsx bench/lib/profile-summary.ts <file.cpuprofile>... [--top 30]');
  process.exit(2);
}
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(`# ${file}\n`);
  console.log(summarise(profile, Number(values.top), values.filter));
  console.log();
}
