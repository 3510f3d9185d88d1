/**
 * What instrumentation costs on the core's hot path: acquire + release of a trivial resource
 * (max 10) with no metrics, with `instrumentPrometheus`, with `instrumentOpenTelemetry` (the
 * SDK's MeterProvider and a reader, collected once a second as a real exporter would), and with
 * both. This is the worst case: the histograms record every acquire and release, and nothing
 * else happens between them. Next to a database round trip the cost is the same per checkout.
 *
 *   npx tsx bench/metrics.ts [--rounds 3] [--duration 500] [--warmup 200] [--concurrency 1,100]
 *
 * Variants are interleaved within each round (rotating order); the report is the median over
 * rounds, and the ratio of each variant to the uninstrumented pool.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';

import { Pool } from '../src/index.js';
import { instrumentOpenTelemetry, instrumentPrometheus } from '../src/metrics/index.js';
import { exposeGc, machineInfo, positiveInt, writeResults } from './lib/harness.js';

const MAX = 10;
const CHECK_MASK = 1023;
const VARIANTS = ['none', 'prometheus', 'opentelemetry', 'both'] as const;
type Variant = (typeof VARIANTS)[number];

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '1,100' },
  },
});

const ROUNDS = positiveInt('rounds', args.rounds);
const DURATION = positiveInt('duration', args.duration);
const WARMUP = positiveInt('warmup', args.warmup);
const CONCURRENCY = args.concurrency.split(',').map((c) => positiveInt('concurrency', c.trim()));

class PullReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

interface State {
  ops: number;
  stop: boolean;
  deadline: number;
}

async function worker(pool: Pool<object>, state: State): Promise<void> {
  while (!state.stop) {
    const r = await pool.acquire();
    pool.release(r);
    if ((++state.ops & CHECK_MASK) === 0 && performance.now() >= state.deadline) state.stop = true;
  }
}

async function load(pool: Pool<object>, concurrency: number, millis: number): Promise<number> {
  const state: State = { ops: 0, stop: false, deadline: performance.now() + millis };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => worker(pool, state)));
  return state.ops / ((performance.now() - started) / 1000);
}

/** Ops per second for one variant: a fresh pool, warmed, then measured. */
async function measure(variant: Variant, concurrency: number): Promise<number> {
  const pool = new Pool<object>(
    { create: () => Promise.resolve({}), destroy: () => {} },
    { max: MAX, name: `bench-${variant}` },
  );
  const closers: (() => void)[] = [];
  let collector: NodeJS.Timeout | undefined;
  if (variant === 'prometheus' || variant === 'both') {
    closers.push(instrumentPrometheus(pool, { registry: new Registry() }).close);
  }
  if (variant === 'opentelemetry' || variant === 'both') {
    const reader = new PullReader();
    const provider = new MeterProvider({ readers: [reader] });
    closers.push(instrumentOpenTelemetry(pool, { meterProvider: provider }).close);
    collector = setInterval(() => void reader.collect(), 1_000);
    collector.unref();
  }
  const held = await Promise.all(Array.from({ length: MAX }, () => pool.acquire()));
  for (const r of held) pool.release(r);
  await load(pool, concurrency, WARMUP);
  const opsPerSecond = await load(pool, concurrency, DURATION);
  clearInterval(collector);
  for (const close of closers) close();
  await pool.end();
  return opsPerSecond;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const gc = exposeGc();
const results: Record<string, Record<Variant, { opsPerSecond: number; ratio: number }>> = {};
for (const concurrency of CONCURRENCY) {
  const samples: Record<Variant, number[]> = {
    none: [],
    prometheus: [],
    opentelemetry: [],
    both: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const variant = VARIANTS[(i + round) % VARIANTS.length]!;
      gc?.();
      samples[variant].push(await measure(variant, concurrency));
    }
  }
  const base = median(samples.none);
  const row = {} as Record<Variant, { opsPerSecond: number; ratio: number }>;
  for (const variant of VARIANTS) {
    const ops = median(samples[variant]);
    row[variant] = { opsPerSecond: Math.round(ops), ratio: Math.round((ops / base) * 1000) / 1000 };
  }
  results[`concurrency ${concurrency}`] = row;
  console.log(`concurrency ${concurrency}`);
  for (const variant of VARIANTS) {
    const { opsPerSecond, ratio } = row[variant];
    console.log(
      `  ${variant.padEnd(14)} ${opsPerSecond.toLocaleString('en-US').padStart(12)} ops/s  x${ratio.toFixed(3)}`,
    );
  }
}
const file = writeResults('metrics', {
  machine: machineInfo(),
  config: {
    rounds: ROUNDS,
    duration: DURATION,
    warmup: WARMUP,
    concurrency: CONCURRENCY,
    max: MAX,
  },
  results,
});
console.log(`results: ${file}`);
