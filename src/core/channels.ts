/**
 * `diagnostics_channel` channels for APM tools and custom tracing, named `lifeguard:*`
 * (docs/channels.md lists every channel and payload).
 *
 * The module is looked up at run time with `process.getBuiltinModule` (Node >= 20.16) rather
 * than imported, so the core still imports nothing from outside itself and loads unchanged in
 * a runtime without it: the channels are then inert stubs.
 *
 * Publishing costs one `hasSubscribers` read when nobody listens: every call site checks it
 * before building a payload. A start and its end share one context object, as Node's
 * TracingChannel does, so a subscriber can keep a span on it between the two.
 */
import type { DestroyReason } from './types.js';

export interface Channel {
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

interface DiagnosticsChannelModule {
  channel(name: string): Channel;
}

const inert: Channel = { hasSubscribers: false, publish: () => undefined };

function lookup(): DiagnosticsChannelModule | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  return get('node:diagnostics_channel') as DiagnosticsChannelModule | undefined;
}

const dc = lookup();

/** The named channel, or an inert stand-in where `diagnostics_channel` is unavailable. */
export function namedChannel(name: string): Channel {
  return dc === undefined ? inert : dc.channel(name);
}

/** Which pool a message is about: the pool itself, and its `name` option. */
export interface PoolMessage {
  readonly pool: object;
  readonly name: string;
}

/** `lifeguard:pool:acquire:start`, then the same object, completed, on `...:acquire:end`. */
export interface AcquireMessage<T> extends PoolMessage {
  /** Set on end: what the caller got. */
  resource?: T;
  /** Set on end: how long the caller waited, in milliseconds. */
  waitedMillis?: number;
  /** Set on end when the acquire failed (a `PoolError`). */
  error?: unknown;
}

/** `lifeguard:pool:release`. */
export interface ReleaseMessage<T> extends PoolMessage {
  readonly resource: T;
  readonly heldMillis: number;
  /** The error the caller released it with (the resource is then destroyed). */
  readonly error: unknown;
}

/** `lifeguard:pool:create:start`, then the same object, completed, on `...:create:end`. */
export interface CreateMessage<T> extends PoolMessage {
  resource?: T;
  durationMillis?: number;
  error?: unknown;
}

/** `lifeguard:pool:destroy`. */
export interface DestroyMessage<T> extends PoolMessage {
  readonly resource: T;
  readonly reason: DestroyReason;
  readonly error?: unknown;
}

/**
 * The pool's channel names. The layers above add their own (lifeguard/pg's query channels);
 * the package entry (src/index.ts) publishes them all as one `channels` catalogue.
 */
export const poolChannels = Object.freeze({
  acquireStart: 'lifeguard:pool:acquire:start',
  acquireEnd: 'lifeguard:pool:acquire:end',
  release: 'lifeguard:pool:release',
  createStart: 'lifeguard:pool:create:start',
  createEnd: 'lifeguard:pool:create:end',
  destroy: 'lifeguard:pool:destroy',
});

export const acquireStartChannel = namedChannel(poolChannels.acquireStart);
export const acquireEndChannel = namedChannel(poolChannels.acquireEnd);
export const releaseChannel = namedChannel(poolChannels.release);
export const createStartChannel = namedChannel(poolChannels.createStart);
export const createEndChannel = namedChannel(poolChannels.createEnd);
export const destroyChannel = namedChannel(poolChannels.destroy);
