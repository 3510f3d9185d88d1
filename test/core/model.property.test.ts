/**
 * Model-based property test of the pool: fast-check generates random sequences of acquire,
 * release (clean or with an error), abort, time passing (timeouts, idle, lifetime, backoff),
 * scripted creation/validation/reset failures and end(), and after every step checks the
 * invariants the issue asks for:
 *
 * - total + pendingCreates <= max;
 * - no resource is held by two callers, and no caller is handed a destroyed resource;
 * - every acquire settles at most once, and exactly once after end() resolved;
 * - waiters are served FIFO: when an acquire resolves with a resource, every earlier acquire
 *   has already settled (an aborted or timed-out caller settles, so it drops out);
 * - the gauges agree with what the callers hold and wait for;
 * - nothing is destroyed twice, and nothing is left open once end() resolved.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Pool, PoolClosedError, ReleaseError, type PoolOptions } from '../../src/core/index.js';
import {
  FakeFactory,
  answer,
  fail,
  hang,
  late,
  ok,
  throwSync,
  type FakeResource,
  type Step,
} from './support/fake-factory.js';
import { fakeTimerConfig, track, type Tracked } from './support/harness.js';

interface AcquireRecord {
  readonly id: number;
  readonly tracked: Tracked<FakeResource>;
  readonly controller: AbortController | undefined;
  readonly afterEnd: boolean;
}

/** The system under test, plus what the callers know. */
interface Real {
  readonly pool: Pool<FakeResource>;
  readonly fake: FakeFactory;
  readonly options: Config['options'];
  readonly validates: boolean;
  readonly acquires: AcquireRecord[];
  /** Resource → id of the acquire holding it. */
  readonly holders: Map<FakeResource, number>;
  /** Resources released at least once and not held now (for double-release checks). */
  readonly released: Set<FakeResource>;
  /** When each resource was last given back clean (it may sit idle from then on). */
  readonly releasedAt: Map<FakeResource, number>;
  /** Resources given back with an error: they must never be handed out again. */
  readonly poisoned: Set<FakeResource>;
  /** How many times each resource was handed out. */
  readonly uses: Map<FakeResource, number>;
  readonly violations: string[];
  /** Acquire ids each resolution overtook: they must turn out to have been rejected. */
  readonly overtaken: { by: number; ids: number[] }[];
  ended: Tracked<void> | undefined;
}

/** What the commands need to know to decide whether they apply. */
interface Model {
  ended: boolean;
  /** Commands run so far: end() only comes after some traffic. */
  steps: number;
}

type Cmd = fc.AsyncCommand<Model, Real>;

/** Every command checks the invariants after it ran, not only at the end of the sequence. */
abstract class Command implements Cmd {
  check(_model: Readonly<Model>): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    model.steps++;
    await this.act(model, real);
    checkInvariants(real);
  }
  protected abstract act(model: Model, real: Real): Promise<void>;
  abstract toString(): string;
}

async function flush(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

function settled(record: AcquireRecord): boolean {
  return record.tracked.status !== 'pending';
}

function heldList(real: Real): FakeResource[] {
  return [...real.holders.keys()];
}

/** What the pool promised about a resource it hands out: fit, young, not worn out, checked. */
function checkHandOut(real: Real, id: number, resource: FakeResource): void {
  const now = performance.now();
  const { maxUses, maxLifetimeMillis } = real.options;
  if (real.poisoned.has(resource)) {
    real.violations.push(`#${id} got resource ${resource.id}, released with an error before`);
  }
  const uses = (real.uses.get(resource) ?? 0) + 1;
  real.uses.set(resource, uses);
  if (uses > maxUses) real.violations.push(`resource ${resource.id} handed out ${uses} times`);
  const age = now - real.fake.createdAt.get(resource)!;
  if (maxLifetimeMillis > 0 && age >= maxLifetimeMillis) {
    real.violations.push(`#${id} got resource ${resource.id} aged ${age} ms`);
  }
  // Idle longer than validateAfterIdleMillis (500), plus slack for a reset (up to 200): it
  // must have been validated since it came back.
  const idleSince = real.releasedAt.get(resource) ?? real.fake.createdAt.get(resource)!;
  const validatedAt = real.fake.lastValidatedAt.get(resource) ?? -Infinity;
  if (real.validates && now - idleSince > 700 && validatedAt < idleSince) {
    real.violations.push(`#${id} got resource ${resource.id}, idle since ${idleSince}, unchecked`);
  }
}

function checkFifo(real: Real): void {
  for (const { by, ids } of real.overtaken.splice(0)) {
    for (const id of ids) {
      const status = real.acquires[id]!.tracked.status;
      if (status !== 'rejected') {
        real.violations.push(`acquire #${by} was served while earlier #${id} waited (${status})`);
      }
    }
  }
}

function expectNoViolations(real: Real): void {
  if (real.violations.length > 0) throw new Error(real.violations.join('\n'));
}

function checkInvariants(real: Real): void {
  checkFifo(real);
  const stats = real.pool.stats();
  expectNoViolations(real);
  expect(stats.total + stats.pendingCreates).toBeLessThanOrEqual(real.options.max);
  expect(stats.idle + stats.inUse).toBeLessThanOrEqual(stats.total);
  expect(real.fake.badDestroys).toEqual([]);
  for (const record of real.acquires) expect(record.tracked.settleCount).toBeLessThanOrEqual(1);
  if (real.ended === undefined) {
    expect(stats.inUse).toBe(real.holders.size);
    expect(stats.waiting).toBe(real.acquires.filter((r) => !settled(r)).length);
    expect(stats.idle).toBeLessThanOrEqual(real.fake.live.size);
    // Nobody waits while an idle resource sits unused, unless every waiter is already promised
    // a resource being validated (those are neither idle nor in use).
    if (stats.idle > 0) {
      expect(stats.waiting, 'callers wait while resources sit idle').toBeLessThanOrEqual(
        stats.total - stats.idle - stats.inUse,
      );
    }
  }
}

class AcquireCommand extends Command {
  constructor(readonly withSignal: boolean) {
    super();
  }
  protected async act(model: Model, real: Real): Promise<void> {
    const id = real.acquires.length;
    const controller = this.withSignal ? new AbortController() : undefined;
    const promise = real.pool.acquire(
      controller === undefined ? {} : { signal: controller.signal },
    );
    const record: AcquireRecord = {
      id,
      tracked: track(promise),
      controller,
      afterEnd: model.ended,
    };
    real.acquires.push(record);
    promise.then(
      (resource) => {
        // FIFO: every earlier caller has settled by the time a later one gets a resource. A
        // rejection may reach its handlers a few microtasks later than the resolution (the pool
        // extends rejected stacks), so earlier callers still pending here are checked once the
        // step has settled: by then they must have been rejected, not served or still waiting.
        const ids = real.acquires.filter((r) => r.id < id && !settled(r)).map((r) => r.id);
        if (ids.length > 0) real.overtaken.push({ by: id, ids });
        const holder = real.holders.get(resource);
        if (holder !== undefined) {
          real.violations.push(
            `resource ${resource.id} handed to #${id} while #${holder} holds it`,
          );
        }
        if (!real.fake.live.has(resource)) {
          real.violations.push(`acquire #${id} was handed destroyed resource ${resource.id}`);
        }
        checkHandOut(real, id, resource);
        if (record.afterEnd) real.violations.push(`acquire #${id} after end() resolved`);
        real.holders.set(resource, id);
        real.released.delete(resource);
      },
      () => {},
    );
    await flush();
    if (model.ended) {
      expect(record.tracked.status).toBe('rejected');
      expect(record.tracked.error).toBeInstanceOf(PoolClosedError);
    }
  }
  toString(): string {
    return `acquire(${this.withSignal ? 'signal' : ''})`;
  }
}

class ReleaseCommand extends Command {
  constructor(
    readonly pick: number,
    readonly withError: boolean,
  ) {
    super();
  }
  protected async act(_model: Model, real: Real): Promise<void> {
    const held = heldList(real);
    if (held.length === 0) return;
    const resource = held[this.pick % held.length]!;
    real.holders.delete(resource);
    real.released.add(resource);
    real.releasedAt.set(resource, performance.now());
    if (this.withError) real.poisoned.add(resource);
    real.pool.release(resource, this.withError ? new Error('released with an error') : undefined);
    // A resource given back with an error is destroyed on the spot.
    if (this.withError) expect(real.fake.live.has(resource)).toBe(false);
    await flush();
  }
  toString(): string {
    return `release(${this.pick}${this.withError ? ', error' : ''})`;
  }
}

class DoubleReleaseCommand extends Command {
  constructor(readonly pick: number) {
    super();
  }
  override check(model: Readonly<Model>): boolean {
    return !model.ended; // after end() a forced-destroyed resource's release is ignored
  }
  protected async act(_model: Model, real: Real): Promise<void> {
    const candidates = [...real.released];
    if (candidates.length === 0) return;
    const resource = candidates[this.pick % candidates.length]!;
    expect(() => real.pool.release(resource)).toThrow(ReleaseError);
    await flush();
  }
  toString(): string {
    return `releaseAgain(${this.pick})`;
  }
}

class AbortCommand extends Command {
  constructor(readonly pick: number) {
    super();
  }
  protected async act(_model: Model, real: Real): Promise<void> {
    const abortable = real.acquires.filter((r) => r.controller !== undefined && !settled(r));
    if (abortable.length === 0) return;
    const record = abortable[this.pick % abortable.length]!;
    const reason = new Error(`abort #${record.id}`);
    record.controller!.abort(reason);
    await flush();
    // It was waiting, so it is rejected with its reason as the cause.
    expect(record.tracked.status).toBe('rejected');
    expect(record.tracked.error).toMatchObject({ code: 'ERR_POOL_ABORTED', cause: reason });
  }
  toString(): string {
    return `abort(${this.pick})`;
  }
}

class AdvanceCommand extends Command {
  constructor(readonly millis: number) {
    super();
  }
  protected async act(_model: Model, _real: Real): Promise<void> {
    await vi.advanceTimersByTimeAsync(this.millis);
  }
  toString(): string {
    return `advance(${this.millis})`;
  }
}

class ScriptCommand extends Command {
  constructor(
    readonly phase: 'create' | 'validate' | 'reset',
    readonly label: string,
    readonly step: Step,
  ) {
    super();
  }
  protected async act(_model: Model, real: Real): Promise<void> {
    real.fake.script(this.phase, this.step);
  }
  toString(): string {
    return `next ${this.phase}: ${this.label}`;
  }
}

class EndCommand extends Command {
  constructor(
    readonly timeoutMillis: number | undefined,
    readonly drain: boolean,
  ) {
    super();
  }
  override check(model: Readonly<Model>): boolean {
    return !model.ended && model.steps >= 12;
  }
  protected async act(model: Model, real: Real): Promise<void> {
    model.ended = true;
    const promise = real.pool.end(
      this.timeoutMillis === undefined
        ? { drain: this.drain }
        : { timeoutMillis: this.timeoutMillis, drain: this.drain },
    );
    real.ended = track(promise);
    expect(real.pool.end()).toBe(promise);
    await flush();
    // Draining, callers already waiting are still served; otherwise every one of them was told
    // at once that the pool closed.
    if (this.drain) return;
    for (const record of real.acquires) {
      if (record.tracked.status === 'pending') real.violations.push(`#${record.id} still waits`);
    }
  }
  toString(): string {
    return `end(${this.timeoutMillis ?? ''})`;
  }
}

const acquire = fc.boolean().map((s) => new AcquireCommand(s));
const release = fc.tuple(fc.nat(), fc.boolean()).map(([p, e]) => new ReleaseCommand(p, e));
const commandArbitraries = [
  // Listed more than once to weigh the traffic over the failures.
  acquire,
  acquire,
  acquire,
  release,
  release,
  release,
  fc.nat().map((p) => new DoubleReleaseCommand(p)),
  fc.nat().map((p) => new AbortCommand(p)),
  fc.constantFrom(1, 50, 200, 499, 500, 1000, 2500).map((ms) => new AdvanceCommand(ms)),
  fc
    .constantFrom<[string, Step]>(
      ['fail', fail(new Error('ECONNREFUSED'))],
      ['throw', throwSync(new Error('bad config'))],
      ['slow', ok(400)],
      ['hang', hang()],
      ['late', late(1500)],
    )
    .map(([label, step]) => new ScriptCommand('create', label, step)),
  fc
    .constantFrom<[string, Step]>(
      ['false', answer(false)],
      ['reject', fail(new Error('dead'))],
      ['hang', hang()],
      ['slow', ok(150)],
    )
    .map(([label, step]) => new ScriptCommand('validate', label, step)),
  fc
    .constantFrom<[string, Step]>(
      ['reject', fail(new Error('ROLLBACK failed'))],
      ['hang', hang()],
      ['slow', ok(150)],
    )
    .map(([label, step]) => new ScriptCommand('reset', label, step)),
  fc
    .tuple(fc.constantFrom(undefined, 0, 300), fc.boolean())
    .map(([t, drain]) => new EndCommand(t, drain)),
];

const configArbitrary = fc
  .record({
    max: fc.integer({ min: 1, max: 4 }),
    minShare: fc.integer({ min: 0, max: 2 }),
    acquireTimeoutMillis: fc.constantFrom(Infinity, 700, 3000),
    createTimeoutMillis: fc.constantFrom(300, 1000),
    circuitBreakerThreshold: fc.constantFrom(2, 5, Infinity),
    maxWaiting: fc.constantFrom(Infinity, 3),
    idleTimeoutMillis: fc.constantFrom(0, 1500),
    maxLifetimeMillis: fc.constantFrom(0, 4000),
    maxUses: fc.constantFrom(Infinity, 3),
    validate: fc.boolean(),
    reset: fc.boolean(),
  })
  .map(({ minShare, validate, reset, ...rest }) => ({
    options: {
      ...rest,
      min: Math.min(minShare, rest.max),
      validateTimeoutMillis: 200,
      resetTimeoutMillis: 200,
      destroyTimeoutMillis: 200,
      reapIntervalMillis: 100,
    } satisfies PoolOptions,
    hooks: { validate, reset },
  }));

/** A small deterministic generator, so a failing run replays exactly from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

type Config = typeof configArbitrary extends fc.Arbitrary<infer C> ? C : never;

async function runScenario(config: Config, seed: number, commands: Iterable<Cmd>): Promise<void> {
  vi.useFakeTimers(fakeTimerConfig);
  vi.spyOn(Math, 'random').mockImplementation(seededRandom(seed));
  const fake = new FakeFactory();
  const pool = new Pool(fake.factory(config.hooks), config.options);
  const violations: string[] = [];
  pool.on('error', ({ error }) => {
    if (error.cause instanceof PoolClosedError) {
      violations.push(`end() reported its own abort of a creation as an error: ${error.message}`);
    }
  });
  pool.on('circuit', ({ state }) => {
    // While end() drains, creations for the callers still waiting may fail and move it.
    if (real.ended?.status === 'resolved') {
      violations.push(`the circuit moved to ${state} after end() resolved`);
    }
  });
  const real: Real = {
    pool,
    fake,
    options: config.options,
    validates: config.hooks.validate,
    acquires: [],
    holders: new Map(),
    released: new Set(),
    releasedAt: new Map(),
    poisoned: new Set(),
    uses: new Map(),
    violations,
    overtaken: [],
    ended: undefined,
  };
  try {
    await fc.asyncModelRun(() => ({ model: { ended: false, steps: 0 }, real }), commands);
    // Wind down: end (which may still serve the callers waiting), give back everything held,
    // again as the drain hands more out, and let time pass until end() resolves.
    const ended = real.ended ?? track(pool.end());
    real.ended = ended;
    await flush();
    // Every hook here is bounded by 1.5 s at most, and a waiter by its acquire timeout or
    // end()'s own 30 s: end() has no reason to take longer.
    for (let waited = 0; ended.status === 'pending' && waited < 35_000; waited += 100) {
      for (const resource of heldList(real)) {
        real.holders.delete(resource);
        real.released.add(resource);
        real.releasedAt.set(resource, performance.now());
        pool.release(resource);
      }
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(ended.status, 'end() resolves once everything handed out is back').toBe('resolved');
    await flush();
    expect([...fake.live], 'resources left open when end() resolved').toEqual([]);
    // A creation that ignored its abort may still be on its way: it must be destroyed when it
    // arrives. After that, nothing may be left: no resource, no timer.
    await vi.advanceTimersByTimeAsync(2000);
    checkFifo(real);
    expectNoViolations(real);
    for (const record of real.acquires) expect(record.tracked.settleCount).toBe(1);
    expect([...fake.live], 'resources left open after end()').toEqual([]);
    expect(vi.getTimerCount(), 'timers left behind after end()').toBe(0);
    expect(fake.badDestroys, 'resources destroyed twice').toEqual([]);
    expect(pool.stats()).toMatchObject({ total: 0, idle: 0, pendingCreates: 0, waiting: 0 });
  } finally {
    void pool.end({ timeoutMillis: 0 });
    vi.useRealTimers();
    vi.restoreAllMocks();
  }
}

describe('the pool, against random sequences of operations', () => {
  it('keeps its invariants after every step and closes everything on end()', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArbitrary,
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.commands(commandArbitraries, { maxCommands: 50, size: 'max' }),
        async (config, seed, commands) => runScenario(config, seed, commands),
      ),
      { numRuns: 600 },
    );
  });
});
