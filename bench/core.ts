/**
 * Core pool micro-benchmark: acquire + release of a trivial resource, max 10, at several levels
 * of concurrency, for lifeguard, its peers (generic-pool, tarn, pg-pool with a fake client) and a
 * featureless "bare" pool that marks the speed of light.
 *
 *   npx tsx bench/core.ts [--rounds 5] [--duration 1000] [--warmup 300]
 *                         [--concurrency 1,100,1000] [--pools lifeguard,bare,...]
 *
 * Every measurement uses a fresh pool, pre-warmed to 10 resources, then `warmup` ms of unmeasured
 * load, then `duration` ms of measured load. Pools are interleaved within each round (and the
 * order rotates between rounds) so that noise hits all of them alike; the report gives the
 * median over rounds. Results also go to bench/results/core-<timestamp>.json.
 */
import * as diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform, release as osRelease, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import genericPool from 'generic-pool';
import { Pool as TarnPool } from 'tarn';

import { channels, Pool, type PoolOptions } from '../src/index.js';
import { exposeGc, median, positiveInt } from './lib/harness.js';

// ---------------------------------------------------------------------------------------------
// Configuration

const MAX = 10;
const TIMEOUT = 30_000;
const IDLE = 30_000;

const POOL_NAMES = [
  'lifeguard',
  'lifeguard-stacks',
  'lifeguard-traced',
  'bare',
  'generic-pool',
  'tarn',
  'pg-pool',
] as const;
type PoolName = (typeof POOL_NAMES)[number];
const PEERS: readonly PoolName[] = ['generic-pool', 'tarn', 'pg-pool'];

function isPoolName(name: string): name is PoolName {
  return (POOL_NAMES as readonly string[]).includes(name);
}

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1,100,1000' },
    pools: { type: 'string', default: POOL_NAMES.join(',') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(
    'usage: npx tsx bench/core.ts [--rounds 5] [--duration 1000] [--warmup 300] ' +
      '[--concurrency 1,100,1000] [--pools ' +
      POOL_NAMES.join(',') +
      ']',
  );
  process.exit(0);
}

const ROUNDS = positiveInt('rounds', args.rounds);
const DURATION = positiveInt('duration', args.duration);
const WARMUP = positiveInt('warmup', args.warmup);
const CONCURRENCY = args.concurrency.split(',').map((c) => positiveInt('concurrency', c.trim()));
const requested = args.pools.split(',').map((p) => p.trim());
for (const name of requested) {
  if (!isPoolName(name)) throw new Error(`unknown pool ${JSON.stringify(name)}`);
}

// ---------------------------------------------------------------------------------------------
// The resource and the measurement loop

interface Res {
  readonly id: number;
}

let nextId = 0;

/** Shared by the workers of one phase. Workers stop once `deadline` has passed. */
interface RunState {
  ops: number;
  stop: boolean;
  deadline: number;
}

/**
 * One pool under test. Each implementation has its own `worker` function literal, so the
 * `acquire`/`release` call sites in the hot loop stay monomorphic for that pool instead of being
 * shared (and megamorphic) across all of them.
 */
interface Subject {
  /** Create a fresh pool and bring it to MAX idle resources. */
  setup(): Promise<void>;
  /** `for (;;) { const r = await acquire(); release(r); }` until the state says stop. */
  worker(state: RunState): Promise<void>;
  /** End the pool and clear all its timers. */
  teardown(): Promise<void>;
}

/** Check the clock only every 1024 ops, so the bare pool isn't measuring performance.now(). */
const CHECK_MASK = 1023;

async function prewarm<T>(acquire: () => Promise<T>, release: (r: T) => unknown): Promise<void> {
  const held = await Promise.all(Array.from({ length: MAX }, acquire));
  for (const r of held) await release(r);
  // Let any deferred bookkeeping (nextTick / microtask pulses) run before we start timing.
  await new Promise<void>((resolve) => setImmediate(resolve));
}

function expectSize(pool: string, size: number): void {
  if (size !== MAX)
    throw new Error(`${pool}: expected ${MAX} resources after pre-warm, got ${size}`);
}

// ---------------------------------------------------------------------------------------------
// lifeguard

/**
 * `lifeguard` runs with default options (plus the timeouts). `lifeguard-stacks` turns on
 * `asyncStackTraces` (off by default in the core, on in lifeguard/pg), which adds a promise hop
 * to every acquire that waits.
 */
function lifeguardSubject(extra: Partial<PoolOptions> = {}, traced = false): Subject {
  let pool: Pool<Res> | undefined;
  // `lifeguard-traced`: a no-op subscriber on every pool diagnostics channel, for the cost of
  // publishing. Subscribed only while this subject runs: the other runs have none.
  const noop = (): void => undefined;
  const poolChannels = Object.values(channels).filter((name) => name.startsWith('lifeguard:pool:'));
  return {
    async setup() {
      if (traced) for (const name of poolChannels) diagnosticsChannel.subscribe(name, noop);
      const p = new Pool<Res>(
        { create: async (_signal) => ({ id: nextId++ }), destroy: () => {} },
        { max: MAX, min: 0, acquireTimeoutMillis: TIMEOUT, idleTimeoutMillis: IDLE, ...extra },
      );
      pool = p;
      await prewarm(
        () => p.acquire(),
        (r) => p.release(r),
      );
    },
    async worker(state) {
      const p = pool!;
      while (!state.stop) {
        const r = await p.acquire();
        p.release(r);
        if ((++state.ops & CHECK_MASK) === 0 && performance.now() >= state.deadline) {
          state.stop = true;
        }
      }
    },
    async teardown() {
      await pool!.end();
      pool = undefined;
      if (traced) for (const name of poolChannels) diagnosticsChannel.unsubscribe(name, noop);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// bare: no timeouts, no events, no bookkeeping. A stack of free resources plus a FIFO ring of
// waiting resolvers.

class Ring<T> {
  private buf: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  size = 0;

  push(value: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = value;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const value = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return value;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}

class BarePool<T> {
  private readonly free: T[];
  private readonly waiters = new Ring<(resource: T) => void>();

  constructor(resources: T[]) {
    this.free = resources;
  }

  acquire(): Promise<T> {
    const r = this.free.pop();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise<T>((resolve) => this.waiters.push(resolve));
  }

  release(resource: T): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(resource);
    else this.free.push(resource);
  }
}

function bareSubject(): Subject {
  let pool: BarePool<Res> | undefined;
  return {
    async setup() {
      pool = new BarePool(Array.from({ length: MAX }, () => ({ id: nextId++ })));
    },
    async worker(state) {
      const p = pool!;
      while (!state.stop) {
        const r = await p.acquire();
        p.release(r);
        if ((++state.ops & CHECK_MASK) === 0 && performance.now() >= state.deadline) {
          state.stop = true;
        }
      }
    },
    async teardown() {
      pool = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// generic-pool v3

function genericSubject(): Subject {
  let pool: genericPool.Pool<Res> | undefined;
  return {
    async setup() {
      const p = genericPool.createPool<Res>(
        { create: async () => ({ id: nextId++ }), destroy: async () => {} },
        {
          max: MAX,
          min: 0,
          acquireTimeoutMillis: TIMEOUT,
          idleTimeoutMillis: IDLE,
          evictionRunIntervalMillis: 1000,
        },
      );
      pool = p;
      await prewarm(
        () => p.acquire(),
        (r) => p.release(r),
      );
      expectSize('generic-pool', p.size);
    },
    async worker(state) {
      const p = pool!;
      while (!state.stop) {
        const r = await p.acquire();
        void p.release(r);
        if ((++state.ops & CHECK_MASK) === 0 && performance.now() >= state.deadline) {
          state.stop = true;
        }
      }
    },
    async teardown() {
      const p = pool!;
      pool = undefined;
      await p.drain();
      await p.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tarn

function tarnSubject(): Subject {
  let pool: TarnPool<Res> | undefined;
  return {
    async setup() {
      const p = new TarnPool<Res>({
        create: () => Promise.resolve({ id: nextId++ }),
        destroy: () => {},
        max: MAX,
        min: 0,
        acquireTimeoutMillis: TIMEOUT,
        idleTimeoutMillis: IDLE,
      });
      pool = p;
      await prewarm(
        () => p.acquire().promise,
        (r) => p.release(r),
      );
      expectSize('tarn', p.numFree() + p.numUsed());
    },
    async worker(state) {
      const p = pool!;
      while (!state.stop) {
        const r = await p.acquire().promise;
        p.release(r);
        if ((++state.ops & CHECK_MASK) === 0 && performance.now() >= state.deadline) {
          state.stop = true;
        }
      }
    },
    async teardown() {
      const p = pool!;
      pool = undefined;
      await p.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// pg-pool with a fake Client. pg-pool (index.js) needs: `new Client(options)`, `connect(cb)`,
// `end(cb)`, EventEmitter `on`/`once`/`removeListener`, `_queryable` truthy and `_ending` falsy
// on release (otherwise it destroys the client), `isConnected()` for its connection timeout,
// and optional `ref`/`unref`. It attaches `release` itself.

class FakeClient extends EventEmitter implements Res {
  readonly id = nextId++;
  _queryable = true;
  _ending = false;
  declare release: (err?: Error | boolean) => void;

  constructor(_options?: unknown) {
    super();
  }

  connect(cb: (err?: Error) => void): void {
    process.nextTick(cb);
  }

  end(cb?: () => void): Promise<void> | undefined {
    this._ending = true;
    this._queryable = false;
    this.emit('end');
    if (cb) {
      process.nextTick(cb);
      return undefined;
    }
    return Promise.resolve();
  }

  isConnected(): boolean {
    return !this._ending;
  }

  ref(): void {}
  unref(): void {}
}

interface PgPoolOptions {
  max: number;
  min: number;
  idleTimeoutMillis: number;
  connectionTimeoutMillis: number;
  Client: new (options?: unknown) => FakeClient;
}
interface PgPoolInstance<C> {
  connect(): Promise<C>;
  end(): Promise<void>;
  readonly totalCount: number;
  readonly idleCount: number;
}
type PgPoolCtor = new (options: PgPoolOptions) => PgPoolInstance<FakeClient>;

const requireCjs = createRequire(import.meta.url);
const PgPool = requireCjs('pg-pool') as PgPoolCtor;

function pgSubject(): Subject {
  let pool: PgPoolInstance<FakeClient> | undefined;
  return {
    async setup() {
      const p = new PgPool({
        max: MAX,
        min: 0,
        idleTimeoutMillis: IDLE,
        connectionTimeoutMillis: TIMEOUT,
        Client: FakeClient,
      });
      pool = p;
      await prewarm(
        () => p.connect(),
        (c) => c.release(),
      );
      expectSize('pg-pool', p.totalCount);
    },
    async worker(state) {
      const p = pool!;
      while (!state.stop) {
        const c = await p.connect();
        c.release();
        if ((++state.ops & CHECK_MASK) === 0 && performance.now() >= state.deadline) {
          state.stop = true;
        }
      }
    },
    async teardown() {
      const p = pool!;
      pool = undefined;
      await p.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Harness

const gc = exposeGc();

async function phase(subject: Subject, concurrency: number, millis: number): Promise<number> {
  const state: RunState = { ops: 0, stop: false, deadline: 0 };
  const workers: Promise<void>[] = new Array<Promise<void>>(concurrency);
  const start = performance.now();
  state.deadline = start + millis;
  for (let i = 0; i < concurrency; i++) workers[i] = subject.worker(state);
  await Promise.all(workers);
  const elapsed = performance.now() - start;
  return (state.ops * 1000) / elapsed;
}

/** One measurement: fresh pool, pre-warm, warm-up load, measured load, teardown. */
async function measure(subject: Subject, concurrency: number, millis: number): Promise<number> {
  gc?.();
  await subject.setup();
  await phase(subject, concurrency, WARMUP);
  const opsPerSec = await phase(subject, concurrency, millis);
  await subject.teardown();
  return opsPerSec;
}

function fmtOps(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

function fmtRatio(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '-' : `${n.toFixed(2)}x`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

interface Cell {
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, a rough noise indicator. */
  spread: number;
}

interface Ratios {
  vsPeer: Partial<Record<PoolName, number>>;
  fastestPeer: PoolName | undefined;
  vsFastestPeer: number | undefined;
  fractionOfBare: number | undefined;
}

async function main(): Promise<void> {
  const factories: Record<PoolName, (() => Subject) | undefined> = {
    lifeguard: () => lifeguardSubject(),
    'lifeguard-stacks': () => lifeguardSubject({ asyncStackTraces: true }),
    'lifeguard-traced': () => lifeguardSubject({}, true),
    bare: bareSubject,
    'generic-pool': genericSubject,
    tarn: tarnSubject,
    'pg-pool': pgSubject,
  };
  const pools = POOL_NAMES.filter((p) => requested.includes(p) && factories[p] !== undefined);
  const subjects = new Map<PoolName, Subject>(pools.map((p) => [p, factories[p]!()]));
  const samples = new Map<string, number[]>();
  const key = (pool: PoolName, c: number): string => `${pool}@${c}`;

  const cpu = cpus();
  const machine = {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cpuCount: cpu.length,
    node: process.version,
    v8: process.versions.v8,
    platform: platform(),
    arch: arch(),
    osRelease: osRelease(),
    totalMemoryBytes: totalmem(),
  };
  const estimate =
    ((pools.length * CONCURRENCY.length * (ROUNDS + 1) * (WARMUP + DURATION)) / 1000) | 0;
  console.log(
    `core benchmark: acquire + release, max ${MAX}, concurrency ${CONCURRENCY.join('/')}; ` +
      `${ROUNDS} rounds x ${DURATION} ms (+${WARMUP} ms warm-up); gc ${gc ? 'on' : 'off'}; ~${estimate} s`,
  );
  console.log(`${machine.cpuModel} x${machine.cpuCount}, node ${machine.node}\n`);

  // Round 0 warms the JIT for every pool and is discarded.
  for (let round = 0; round <= ROUNDS; round++) {
    const order = pools.map((_, i) => pools[(i + round) % pools.length]!);
    const line: string[] = [];
    for (const c of CONCURRENCY) {
      for (const pool of order) {
        const opsPerSec = await measure(subjects.get(pool)!, c, round === 0 ? WARMUP : DURATION);
        if (round === 0) continue;
        const list = samples.get(key(pool, c)) ?? [];
        list.push(opsPerSec);
        samples.set(key(pool, c), list);
      }
    }
    if (round === 0) console.log('round 0 (JIT warm-up) done');
    else {
      for (const c of CONCURRENCY) {
        line.push(
          `c=${c}: ` +
            pools.map((p) => `${p} ${fmtOps(samples.get(key(p, c))!.at(-1)!)}`).join(', '),
        );
      }
      console.log(`round ${round}/${ROUNDS}  ${line.join(' | ')}`);
    }
  }

  const results: Partial<Record<PoolName, Record<number, Cell>>> = {};
  for (const pool of pools) {
    const perC: Record<number, Cell> = {};
    for (const c of CONCURRENCY) {
      const xs = samples.get(key(pool, c)) ?? [];
      const med = median(xs);
      const min = Math.min(...xs);
      const max = Math.max(...xs);
      perC[c] = { samples: xs, median: med, min, max, spread: (max - min) / med };
    }
    results[pool] = perC;
  }
  const med = (pool: PoolName, c: number): number | undefined => results[pool]?.[c]?.median;

  const ratios: Record<number, Ratios> = {};
  for (const c of CONCURRENCY) {
    const lgOps = med('lifeguard', c);
    const peers = PEERS.filter((p) => med(p, c) !== undefined);
    const fastestPeer = peers.reduce<PoolName | undefined>(
      (best, p) => (best === undefined || med(p, c)! > med(best, c)! ? p : best),
      undefined,
    );
    const vsPeer: Partial<Record<PoolName, number>> = {};
    if (lgOps !== undefined) for (const p of peers) vsPeer[p] = lgOps / med(p, c)!;
    const bare = med('bare', c);
    ratios[c] = {
      vsPeer,
      fastestPeer,
      vsFastestPeer: lgOps !== undefined && fastestPeer ? lgOps / med(fastestPeer, c)! : undefined,
      fractionOfBare: lgOps !== undefined && bare !== undefined ? lgOps / bare : undefined,
    };
  }

  console.log(`\nmedian ops/s over ${ROUNDS} rounds (spread = (max-min)/median)\n`);
  console.log(
    table(
      ['pool', ...CONCURRENCY.map((c) => `c=${c}`), ...CONCURRENCY.map((c) => `spread@${c}`)],
      pools.map((p) => [
        p,
        ...CONCURRENCY.map((c) => fmtOps(med(p, c)!)),
        ...CONCURRENCY.map((c) => `${(results[p]![c]!.spread * 100).toFixed(0)}%`),
      ]),
    ),
  );

  if (pools.some((p) => !p.startsWith('lifeguard'))) {
    console.log('\nlifeguard ratios (median / median)\n');
    console.log(
      table(
        [
          'concurrency',
          ...PEERS.filter((p) => pools.includes(p)).map((p) => `vs ${p}`),
          'vs fastest peer',
          'of bare',
        ],
        CONCURRENCY.map((c) => {
          const r = ratios[c]!;
          return [
            String(c),
            ...PEERS.filter((p) => pools.includes(p)).map((p) => fmtRatio(r.vsPeer[p])),
            r.fastestPeer ? `${fmtRatio(r.vsFastestPeer)} (${r.fastestPeer})` : '-',
            r.fractionOfBare === undefined ? '-' : `${(r.fractionOfBare * 100).toFixed(0)}%`,
          ];
        }),
      ),
    );
    const target = ratios[100]?.vsFastestPeer;
    if (target !== undefined) {
      console.log(
        `\ntarget: lifeguard >= 4x fastest peer at c=100: ${fmtRatio(target)} ${target >= 4 ? 'MET' : 'NOT MET'}`,
      );
    }
    for (const variant of ['lifeguard-stacks', 'lifeguard-traced'] as const) {
      for (const c of CONCURRENCY) {
        const ops = med(variant, c);
        const peer = ratios[c]?.fastestPeer;
        if (ops === undefined || peer === undefined) continue;
        console.log(
          `${variant} at c=${c}: ${fmtRatio(ops / med(peer, c)!)} ${peer}, ${fmtRatio(ops / (med('lifeguard', c) ?? NaN))} lifeguard, ${((ops / (med('bare', c) ?? NaN)) * 100).toFixed(0)}% of bare`,
        );
      }
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`core-${stamp}.json`, dir);
  const report = {
    benchmark: 'core',
    description: 'acquire + release of a trivial resource, ops/s',
    timestamp: new Date().toISOString(),
    machine,
    config: {
      rounds: ROUNDS,
      durationMillis: DURATION,
      warmupMillis: WARMUP,
      concurrency: CONCURRENCY,
      max: MAX,
      acquireTimeoutMillis: TIMEOUT,
      idleTimeoutMillis: IDLE,
      gc: gc !== undefined,
      pools,
    },
    results,
    ratios,
    target: {
      description: 'lifeguard >= 4x the fastest peer at 100 concurrent callers',
      value: ratios[100]?.vsFastestPeer ?? null,
      met: (ratios[100]?.vsFastestPeer ?? 0) >= 4,
    },
  };
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwrote ${file.pathname}`);

  // Every pool has been ended; anything still holding the loop open is a leak worth knowing about.
  const leftovers = process
    .getActiveResourcesInfo()
    .filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
  if (leftovers.length > 0) console.warn(`! still active after teardown: ${leftovers.join(', ')}`);
}

await main();
