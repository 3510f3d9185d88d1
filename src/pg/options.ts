/**
 * Splits a pg.Pool config into what each `pg.Client` gets and what the core pool gets, with
 * pg.Pool's names and defaults, and lifeguard's options on top. Validated once, at
 * construction.
 *
 * Unknown keys cannot be rejected as the core does: pg.Pool hands its whole config to every
 * Client, and code in the wild relies on that (`types`, `stream`, `binary`, ...), and configs
 * carry extra keys from ORMs and environment loaders. A key that neither pg nor lifeguard reads
 * is still passed to the Client, with one warning per key and process (with a pointer to the
 * right name when it looks misnamed); only invalid values of keys we honour throw.
 */
import pg from 'pg';

import { InvalidOptionError, type PoolOptions as CorePoolOptions } from '../core/index.js';
import { checkFunction, checkNonNegative } from './option-checks.js';
import { pipelineSettings, type PipelineSettings } from './pipeline-options.js';

export type { PipelineSettings } from './pipeline-options.js';
import { prepareKeys } from './prepared/settings.js';
import { secretsOf } from './redact.js';
import { timeoutStatements } from './timeouts.js';
import type { CoreOptions, PoolConfig } from './types.js';

export type ClientConstructor = new (config: pg.ClientConfig) => pg.Client;

export interface ResolvedOptions {
  readonly Client: ClientConstructor;
  /** Handed to every new Client. Private: it holds the password. */
  readonly clientConfig: Record<string, unknown>;
  readonly core: CorePoolOptions;
  /** Per-pool `SET` statements run on each new connection, or undefined. */
  readonly setupSql: string | undefined;
  readonly onConnect: ((client: pg.ClientBase) => unknown) | undefined;
  /** `resetOnRelease`, with the pool's own SETs appended to a string one; or undefined. */
  readonly resetOnRelease: string | ((client: pg.ClientBase) => Promise<void>) | undefined;
  /** pg.Pool's `verify(client, cb)`, run on each new client after `onConnect`. */
  readonly verify: PoolConfig['verify'];
  readonly endTimeoutMillis: number;
  readonly log: ((...messages: unknown[]) => void) | undefined;
  /** pg.Pool's `Promise` option: the class of the promises handed out, when not the global one. */
  readonly Promise: PromiseConstructorLike | undefined;
  /** What `pool.options` shows: pg.Pool's shape, credentials non-enumerable. */
  readonly pgOptions: pg.PoolOptions;
  /** Strings to mask in errors and logs. */
  readonly secrets: readonly string[];
  /** How `pool.query()` is pipelined, or undefined with `pipelineQueries: false`. */
  readonly pipeline: PipelineSettings | undefined;
}

const coreKeys = [
  'name',
  'acquireTimeoutMillis',
  'createTimeoutMillis',
  'destroyTimeoutMillis',
  'maxLifetimeJitter',
  'validateAfterIdleMillis',
  'validateTimeoutMillis',
  'resetTimeoutMillis',
  'maxWaiting',
  'createRetryBaseMillis',
  'createRetryMaxMillis',
  'createProbeIntervalMillis',
  'circuitBreakerThreshold',
  'leakDetectionMillis',
  'leakReclaimMillis',
  'overloadTargetMillis',
  'overloadIntervalMillis',
  'reapIntervalMillis',
  'asyncStackTraces',
  'warmMin',
  'budget',
] as const satisfies readonly (keyof CoreOptions)[];

/** Keys that configure the pool and are not passed to `pg.Client`. */
const poolKeys = new Set<string>([
  ...coreKeys,
  'max',
  'min',
  'poolSize',
  'idleTimeoutMillis',
  'connectionTimeoutMillis',
  'maxUses',
  'maxLifetimeSeconds',
  'allowExitOnIdle',
  'Client',
  'onConnect',
  'resetOnRelease',
  'verify',
  'log',
  'Promise',
  'endTimeoutMillis',
  'statementTimeout',
  'lockTimeout',
  'idleInTransactionSessionTimeout',
  // Ours. pg's Client option `pipeline` (its own pipeline mode) is passed to clients untouched.
  'pipelineQueries',
  'pipelineDepth',
  'pipelineSlowQueryMillis',
  'pipelineIsolateSlowQueries',
  'pipelineLargeResultBytes',
  ...prepareKeys,
]);

/**
 * Every key pg 8.23 reads from a Client's config (lib/client.js, lib/connection-parameters.js,
 * lib/connection.js, lib/native/client.js) or pg-pool from a Pool's (besides `poolKeys`). None
 * of them may warn: code written for pg.Pool passes them all.
 */
const pgKeys = new Set<string>([
  // pg.Client
  'Promise',
  'types',
  'connection',
  'stream',
  'ssl',
  'keepAlive',
  'keepAliveInitialDelayMillis',
  'enableChannelBinding',
  'scramMaxIterations',
  'pipeline',
  'binary',
  'connectionTimeoutMillis',
  // ConnectionParameters
  'connectionString',
  'user',
  'database',
  'password',
  'port',
  'host',
  'options',
  'sslnegotiation',
  'client_encoding',
  'replication',
  'application_name',
  'fallback_application_name',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'query_timeout',
  // pg-native
  'nativeConnectionString',
]);

/** Names people reach for that pg and lifeguard both ignore, and what they probably meant. */
const misnamed: Record<string, string> = {
  maxLifetimeMillis: 'maxLifetimeSeconds (in seconds, as pg.Pool has it)',
  acquireTimeout: 'acquireTimeoutMillis',
  connectionTimeout: 'connectionTimeoutMillis',
  idleTimeout: 'idleTimeoutMillis',
};

/** Unknown keys already warned about, so that each is reported once per process. */
const warnedKeys = new Set<string>();

/** Backoff cap after connection attempts that reached the server and failed. */
const kPgCreateRetryMaxMillis = 2_000;

/** Silence before the first keepalive probe (pg's default, 0, means the kernel's 2 hours). */
const kKeepAliveInitialDelayMillis = 10_000;

/** pg.Pool's default; the core's own default (30 s) is for generic resources. */
const kPgIdleTimeoutMillis = 10_000;
const kEndTimeoutMillis = 30_000;

export function resolveOptions(config: PoolConfig | undefined): ResolvedOptions {
  if (config === undefined || config === null) config = {};
  if (typeof config !== 'object') {
    throw new InvalidOptionError('config', `expected an object, got ${typeof config}`);
  }
  warnUnknownKeys(config);
  const Client = (config.Client ?? pg.Client) as unknown as ClientConstructor;
  checkHooks(config, Client);
  const endTimeoutMillis = config.endTimeoutMillis ?? kEndTimeoutMillis;
  checkNonNegative('endTimeoutMillis', endTimeoutMillis);
  checkNonNegative('maxLifetimeSeconds', config.maxLifetimeSeconds ?? 0);
  const core = coreOptions(config);
  const setupSql = timeoutStatements(
    config,
    'SET',
    (name, message) => new InvalidOptionError(name, message),
  );
  return {
    Client,
    clientConfig: clientConfigOf(config),
    core,
    setupSql,
    onConnect: config.onConnect,
    resetOnRelease: resetOnReleaseOf(config, setupSql),
    verify: config.verify,
    endTimeoutMillis,
    log: config.log,
    Promise: promiseClassOf(config),
    pgOptions: publicOptions(config, core),
    secrets: secretsOf(config),
    pipeline: pipelineSettings(config),
  };
}

/** The functions the config hands us, checked now rather than when first called. */
function checkHooks(config: PoolConfig, Client: ClientConstructor): void {
  checkFunction('Client', Client);
  checkFunction('onConnect', config.onConnect, true);
  checkFunction('verify', config.verify, true);
  checkFunction('log', config.log, true);
}

/**
 * A reset string ends with the pool's own SETs, since a reset that runs RESET ALL undoes
 * them; they cost nothing extra in the same round trip.
 */
function resetOnReleaseOf(
  config: PoolConfig,
  setupSql: string | undefined,
): ResolvedOptions['resetOnRelease'] {
  const reset = config.resetOnRelease;
  if (reset === undefined || typeof reset === 'function') return reset;
  if (typeof reset !== 'string' || reset.trim() === '') {
    throw new InvalidOptionError('resetOnRelease', 'expected a non-empty string or a function');
  }
  return setupSql === undefined ? reset : `${reset.replace(/[;\s]+$/, '')}; ${setupSql}`;
}

/** What each new `pg.Client` is given: the config less the pool's keys, keepalive on. */
function clientConfigOf(config: PoolConfig): Record<string, unknown> {
  const clientConfig: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!poolKeys.has(key)) clientConfig[key] = value;
  }
  // TCP keepalive on unless asked otherwise: half-open connections are found by the kernel.
  // Probes start after 10 s of silence instead of the kernel's default 2 hours; libuv then
  // probes every second, 10 times (Linux), so a vanished server is noticed in about 20 s even
  // by a query waiting on it, with no timeout set.
  clientConfig['keepAlive'] = config.keepAlive ?? true;
  clientConfig['keepAliveInitialDelayMillis'] =
    config.keepAliveInitialDelayMillis ?? kKeepAliveInitialDelayMillis;
  return clientConfig;
}

/**
 * pg.Pool's `Promise` option: the class of the promises the pool hands out (bluebird, say).
 * Undefined for the global `Promise`, so that the common case wraps nothing, and for a value
 * that is not a function, which is ignored.
 */
function promiseClassOf(config: PoolConfig): PromiseConstructorLike | undefined {
  const promiseClass = (config as { Promise?: unknown }).Promise;
  return typeof promiseClass === 'function' && promiseClass !== Promise
    ? (promiseClass as PromiseConstructorLike)
    : undefined;
}

/**
 * A key that neither pg nor lifeguard reads is a typo or a leftover: pg.Pool ignores it (and
 * so do we, passing it to the Client as pg.Pool does), but says nothing. One warning per key
 * per process, naming the key and never its value (it may be a credential).
 */
function warnUnknownKeys(config: object): void {
  for (const key of Object.keys(config)) {
    if (pgKeys.has(key) || poolKeys.has(key) || warnedKeys.has(key)) continue;
    warnedKeys.add(key);
    const meant = misnamed[key] ?? sameButCase(key);
    process.emitWarning(
      `Unknown pool option ${JSON.stringify(key)}: neither pg nor lifeguard reads it${meant === undefined ? '' : ` (did you mean ${meant}?)`}. It is passed to each Client unchanged, as pg.Pool does.`,
      { type: 'LifeguardWarning', code: 'LIFEGUARD_UNKNOWN_OPTION' },
    );
  }
}

/** The known key that differs from `key` only in case (`connectionstring`), if any. */
function sameButCase(key: string): string | undefined {
  const lower = key.toLowerCase();
  return [...pgKeys, ...poolKeys].find((known) => known.toLowerCase() === lower);
}

function coreOptions(config: PoolConfig): CorePoolOptions {
  const core: CorePoolOptions = {
    max: config.max ?? config.poolSize ?? 10,
    min: config.min ?? 0,
    // pg.Pool: `null` or 0 disables the idle timeout.
    idleTimeoutMillis:
      config.idleTimeoutMillis === undefined
        ? kPgIdleTimeoutMillis
        : (config.idleTimeoutMillis ?? 0),
    // pg.Pool documents 0 as "no limit" for both.
    maxUses: config.maxUses === undefined || config.maxUses === 0 ? Infinity : config.maxUses,
    maxLifetimeMillis: (config.maxLifetimeSeconds ?? 0) * 1000,
    allowExitOnIdle: config.allowExitOnIdle ?? false,
    // A database round trip dwarfs the derived promise this costs per waiting acquire, so
    // callers get their own frames in timeouts by default here (off in the bare core).
    asyncStackTraces: true,
    // pg.Pool's `min` is only a floor for idle removal: nothing is opened ahead of demand, and
    // a client retired by maxUses or its lifetime is not replaced until someone asks for one.
    warmMin: false,
    // Attempts that reached the server wait at most 2 s (the core's 10 s is for any resource);
    // refusals cost the server nothing: probed every 200-300 ms (createProbeIntervalMillis).
    // (Raised to a larger base the caller chose, so that setting only the base stays valid.)
    createRetryMaxMillis: Math.max(kPgCreateRetryMaxMillis, config.createRetryBaseMillis ?? 0),
  };
  applyConnectionTimeout(core, config.connectionTimeoutMillis);
  // lifeguard's own core options, given by their core names, override what pg's names set.
  for (const key of coreKeys) {
    const value = config[key];
    // Each key carries its own type; TypeScript cannot follow that through the loop.
    if (value !== undefined) (core as Record<string, unknown>)[key] = value;
  }
  return core;
}

/**
 * pg.Pool's connectionTimeoutMillis bounds both waiting for a client and opening one; 0 means
 * no limit on waiting (each attempt to open one stays bounded by createTimeoutMillis).
 */
function applyConnectionTimeout(core: CorePoolOptions, timeout: number | undefined): void {
  if (timeout === 0) {
    core.acquireTimeoutMillis = Infinity;
  } else if (timeout !== undefined) {
    core.acquireTimeoutMillis = timeout;
    core.createTimeoutMillis = timeout;
  }
}

function publicOptions(config: PoolConfig, core: CorePoolOptions): pg.PoolOptions {
  const options: Record<string, unknown> = {
    ...config,
    max: core.max,
    min: core.min,
    maxUses: core.maxUses,
    allowExitOnIdle: core.allowExitOnIdle,
    maxLifetimeSeconds: config.maxLifetimeSeconds ?? 0,
    // pg.Pool shows `null` as given (no idle timeout), the core keeps 0 for it.
    idleTimeoutMillis: config.idleTimeoutMillis === null ? null : core.idleTimeoutMillis,
  };
  // Still readable, as on pg.Pool, but hidden from console.log, JSON and spreading; a getter,
  // so that even util.inspect with showHidden shows `[Getter]`, not the value.
  for (const key of ['password', 'connectionString']) {
    if (key in options) {
      const value = options[key];
      Object.defineProperty(options, key, { get: () => value, enumerable: false });
    }
  }
  return Object.freeze(options) as unknown as pg.PoolOptions;
}
