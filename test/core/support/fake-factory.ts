/**
 * A scripted factory for the core's unit tests, in the spirit of deadpool's gated test manager:
 * every phase (create, validate, reset, destroy) answers each call with the next scripted
 * `Step` (or the phase's default), so a test decides exactly which call succeeds, fails, hangs
 * or is slow. Slow steps use `setTimeout`, so they run on the test's fake clock.
 *
 * It records every live resource (created and not yet handed to `destroy`), every call, and
 * any resource destroyed twice, so tests can assert that nothing is left open or closed twice.
 */
import type { Factory } from '../../../src/core/index.js';

export interface FakeResource {
  readonly id: number;
}

export type Phase = 'create' | 'validate' | 'reset' | 'destroy';

/** What one call does. `afterMillis` makes it slow; `sync` answers without a promise. */
export type Step =
  | {
      readonly kind: 'ok';
      readonly afterMillis?: number;
      readonly sync?: boolean;
      /** validate only: the boolean returned. Default true. */
      readonly value?: boolean;
      /** create only: keep going when the signal aborts (the resource then arrives late). */
      readonly ignoreAbort?: boolean;
    }
  | {
      readonly kind: 'fail';
      readonly error: unknown;
      readonly afterMillis?: number;
      readonly sync?: boolean;
      readonly ignoreAbort?: boolean;
    }
  | { readonly kind: 'hang'; readonly ignoreAbort?: boolean };

export const ok = (afterMillis?: number): Step =>
  afterMillis === undefined ? { kind: 'ok' } : { kind: 'ok', afterMillis };
export const okSync = (): Step => ({ kind: 'ok', sync: true });
/** A slow success that ignores the abort signal, so a create arrives after its timeout. */
export const late = (afterMillis: number): Step => ({ kind: 'ok', afterMillis, ignoreAbort: true });
export const answer = (value: boolean, afterMillis?: number): Step =>
  afterMillis === undefined ? { kind: 'ok', value } : { kind: 'ok', value, afterMillis };
export const fail = (error: unknown, afterMillis?: number): Step =>
  afterMillis === undefined ? { kind: 'fail', error } : { kind: 'fail', error, afterMillis };
export const throwSync = (error: unknown): Step => ({ kind: 'fail', error, sync: true });
/** Never settles; a create still rejects when its signal aborts, as a real driver would. */
export const hang = (): Step => ({ kind: 'hang' });
/** Never settles at all, whatever happens to the signal. */
export const hangForever = (): Step => ({ kind: 'hang', ignoreAbort: true });

export interface FakeFactoryOptions {
  /** Expose `validate` to the pool. */
  validate?: boolean;
  /** Expose `reset` to the pool. */
  reset?: boolean;
  /** Expose `ref`/`unref` to the pool. */
  refs?: boolean;
  /** The factory's `createFailureCost` hook, if any. */
  createFailureCost?: Factory<FakeResource>['createFailureCost'];
}

export class FakeFactory {
  /** Created and not yet passed to `destroy`. */
  readonly live = new Set<FakeResource>();
  /** Resources passed to `destroy`, in order (a resource destroyed twice appears twice). */
  readonly destroyed: FakeResource[] = [];
  /** The reason the pool gave with each `destroy` call, in order. */
  readonly destroyReasons: string[] = [];
  /** Resources passed to `destroy` when they were not live (destroyed twice, or never made). */
  readonly badDestroys: FakeResource[] = [];
  readonly calls: Record<Phase, number> = { create: 0, validate: 0, reset: 0, destroy: 0 };
  /** The signal of every create call, in call order. */
  readonly createSignals: AbortSignal[] = [];
  /** Every validate/reset call's resource, in order. */
  readonly validated: FakeResource[] = [];
  readonly resetted: FakeResource[] = [];
  readonly refCalls: { op: 'ref' | 'unref'; resource: FakeResource }[] = [];
  /** Peak number of live resources. */
  peakLive = 0;
  /** When each resource was made, and last validated, on the (fake) monotonic clock. */
  readonly createdAt = new Map<FakeResource, number>();
  readonly lastValidatedAt = new Map<FakeResource, number>();

  readonly #scripts: Record<Phase, Step[]> = { create: [], validate: [], reset: [], destroy: [] };
  readonly #defaults: Record<Phase, Step> = {
    create: ok(),
    validate: ok(),
    reset: ok(),
    destroy: ok(),
  };
  #nextId = 1;

  /** Queues steps answered by the next calls of `phase`, in order. */
  script(phase: Phase, ...steps: Step[]): this {
    this.#scripts[phase].push(...steps);
    return this;
  }

  /** What `phase` does once its script runs out. */
  setDefault(phase: Phase, step: Step): this {
    this.#defaults[phase] = step;
    return this;
  }

  /** Steps still queued for `phase`. */
  pending(phase: Phase): number {
    return this.#scripts[phase].length;
  }

  /** How many times `resource` was passed to `destroy`. */
  destroyCount(resource: FakeResource): number {
    return this.destroyed.filter((r) => r === resource).length;
  }

  /** The `Factory` the pool sees: create and destroy, plus the optional hooks asked for. */
  factory(options: FakeFactoryOptions = {}): Factory<FakeResource> {
    const factory: Factory<FakeResource> = {
      create: (signal) => this.#create(signal),
      destroy: (resource, reason) => {
        this.destroyReasons.push(reason);
        return this.#destroy(resource);
      },
    };
    if (options.validate === true) factory.validate = (resource) => this.#validate(resource);
    if (options.reset === true) factory.reset = (resource) => this.#reset(resource);
    if (options.createFailureCost !== undefined) {
      factory.createFailureCost = options.createFailureCost;
    }
    if (options.refs === true) {
      factory.ref = (resource) => void this.refCalls.push({ op: 'ref', resource });
      factory.unref = (resource) => void this.refCalls.push({ op: 'unref', resource });
    }
    return factory;
  }

  #next(phase: Phase): Step {
    this.calls[phase]++;
    return this.#scripts[phase].shift() ?? this.#defaults[phase];
  }

  #create(signal: AbortSignal): Promise<FakeResource> {
    const step = this.#next('create');
    this.createSignals.push(signal);
    const make = (): FakeResource => {
      const resource: FakeResource = { id: this.#nextId++ };
      this.live.add(resource);
      this.createdAt.set(resource, performance.now());
      this.peakLive = Math.max(this.peakLive, this.live.size);
      return resource;
    };
    if (step.kind !== 'hang' && step.sync === true) {
      if (step.kind === 'fail') throw step.error;
      return Promise.resolve(make());
    }
    return new Promise<FakeResource>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (step.ignoreAbort !== true) {
        const onAbort = (): void => {
          clearTimeout(timer);
          reject(signal.reason);
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      if (step.kind === 'hang') return;
      const settle = (): void => {
        if (step.kind === 'fail') reject(step.error);
        else resolve(make());
      };
      if (step.afterMillis === undefined) settle();
      else timer = setTimeout(settle, step.afterMillis);
    });
  }

  #validate(resource: FakeResource): Promise<boolean> | boolean {
    this.validated.push(resource);
    this.lastValidatedAt.set(resource, performance.now());
    return this.#answer(this.#next('validate'), (step) => step.value ?? true);
  }

  #reset(resource: FakeResource): Promise<void> | void {
    this.resetted.push(resource);
    return this.#answer(this.#next('reset'), () => undefined);
  }

  #destroy(resource: FakeResource): Promise<void> | void {
    this.destroyed.push(resource);
    if (!this.live.delete(resource)) this.badDestroys.push(resource);
    return this.#answer(this.#next('destroy'), () => undefined);
  }

  /** Plays a step for a hook that has no signal: sync, immediate, slow, or never. */
  #answer<V>(step: Step, value: (step: Extract<Step, { kind: 'ok' }>) => V): Promise<V> | V {
    if (step.kind === 'hang') return new Promise<V>(() => {});
    if (step.sync === true) {
      if (step.kind === 'fail') throw step.error;
      return value(step);
    }
    const settle = (): Promise<V> =>
      step.kind === 'fail' ? Promise.reject(step.error) : Promise.resolve(value(step));
    if (step.afterMillis === undefined) return settle();
    const delay = step.afterMillis;
    return new Promise<void>((resolve) => setTimeout(resolve, delay)).then(settle);
  }
}
