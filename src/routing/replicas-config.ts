/** The replica router's configuration: its shape, its checks, and its members' pool configs. */
import { ConnectionBudget } from '../core/index.js';
import type { PoolConfig } from '../pg/index.js';
import { RoutingError } from './errors.js';

/** A member: a connection string, or its own pool settings over the shared ones. */
export type MemberConfig = string | Omit<PoolConfig, 'budget' | 'name'>;

export interface ReplicaRouterConfig extends Omit<
  PoolConfig,
  'budget' | 'name' | 'connectionString'
> {
  /** The server that takes writes (and reads nobody sent to a replica). */
  primary: MemberConfig;
  /** Streaming replicas of it, for reads that opt in. */
  replicas: readonly MemberConfig[];
  /**
   * The cap on all members' connections together: a number, or a `ConnectionBudget` shared
   * with other routers or pools. Default: the sum of the members' `max`.
   */
  budget?: number | ConnectionBudget;
  /**
   * Where reads go when the call does not say (`{ replica }`). Default `'primary'`: a replica
   * may be behind, so reading from one is the caller's choice.
   */
  reads?: 'primary' | 'replica';
  /** A replica whose last replayed transaction is older than this takes no reads. */
  maxLagMillis?: number;
  /** A replica this many bytes of WAL behind the primary takes no reads. */
  maxLagBytes?: number;
  /** When no replica can take a read: use the primary (default), or fail (`ERR_ROUTING_NO_REPLICA`). */
  fallback?: 'primary' | 'fail';
  /** How often the lag monitor checks every member. Default 1000 ms. */
  monitorIntervalMillis?: number;
  /**
   * How long a read with a read-your-writes token waits for a replica to replay that far
   * before it goes to the primary. Default 100 ms.
   */
  tokenWaitMillis?: number;
  /** The router's name; members are `<name>.primary` and `<name>.replica-<i>`. Default `replicas`. */
  name?: string;
}

/** The settings the router itself keeps, defaults applied. */
export interface ReplicaSettings {
  readonly name: string;
  readonly reads: 'primary' | 'replica';
  readonly fallback: 'primary' | 'fail';
  readonly maxLagMillis: number | undefined;
  readonly maxLagBytes: number | undefined;
  readonly monitorIntervalMillis: number;
  readonly tokenWaitMillis: number;
}

const kDefaultMax = 10;

export function checkedSettings(config: ReplicaRouterConfig): ReplicaSettings {
  const invalid = (message: string): RoutingError =>
    new RoutingError('ERR_ROUTING_INVALID_CONFIG', message);
  if (typeof config !== 'object' || config === null) {
    throw invalid('createReplicaRouter() needs a config object');
  }
  if (config.primary === undefined) throw invalid('createReplicaRouter() needs a primary');
  if (!Array.isArray(config.replicas) || config.replicas.length === 0) {
    throw invalid('createReplicaRouter() needs at least one replica');
  }
  oneOf('reads', config.reads, ['primary', 'replica']);
  oneOf('fallback', config.fallback, ['primary', 'fail']);
  for (const key of ['maxLagMillis', 'maxLagBytes', 'monitorIntervalMillis', 'tokenWaitMillis']) {
    const value = config[key as keyof ReplicaRouterConfig];
    if (value !== undefined && !(typeof value === 'number' && value >= 0)) {
      throw invalid(`${key} must be a number ≥ 0, got ${JSON.stringify(value)}`);
    }
  }
  return {
    name: config.name ?? 'replicas',
    reads: config.reads ?? 'primary',
    fallback: config.fallback ?? 'primary',
    maxLagMillis: config.maxLagMillis,
    maxLagBytes: config.maxLagBytes,
    monitorIntervalMillis: Math.max(10, config.monitorIntervalMillis ?? 1_000),
    tokenWaitMillis: config.tokenWaitMillis ?? 100,
  };
}

function oneOf(key: string, value: unknown, allowed: readonly string[]): void {
  if (value === undefined || allowed.includes(value as string)) return;
  throw new RoutingError(
    'ERR_ROUTING_INVALID_CONFIG',
    `${key} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`,
  );
}

/** The router's own keys; everything else in the config is shared pool settings. */
const kRouterKeys = [
  'primary',
  'replicas',
  'budget',
  'reads',
  'maxLagMillis',
  'maxLagBytes',
  'fallback',
  'monitorIntervalMillis',
  'tokenWaitMillis',
  'name',
] as const;

/** Each member's pool config by member name, primary first, all under one budget. */
export function memberConfigs(
  config: ReplicaRouterConfig,
  name: string,
): { budget: ConnectionBudget; members: [string, PoolConfig][] } {
  const shared: Record<string, unknown> = { ...config };
  for (const key of kRouterKeys) delete shared[key];
  const own = (member: MemberConfig): PoolConfig =>
    typeof member === 'string' ? { ...shared, connectionString: member } : { ...shared, ...member };
  const configs: [string, PoolConfig][] = [
    [`${name}.primary`, own(config.primary)],
    ...config.replicas.map((r, i): [string, PoolConfig] => [`${name}.replica-${i}`, own(r)]),
  ];
  const budget =
    config.budget instanceof ConnectionBudget
      ? config.budget
      : new ConnectionBudget({
          max: config.budget ?? configs.reduce((sum, [, c]) => sum + (c.max ?? kDefaultMax), 0),
          name,
        });
  const members = configs.map(([member, c]): [string, PoolConfig] => [
    member,
    { ...c, name: member, budget },
  ]);
  return { budget, members };
}
