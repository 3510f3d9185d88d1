/**
 * The one place that turns a scenario's pg.Pool config into lifeguard's. Kept free of Vitest
 * so that child-process fixtures build their pool the same way.
 *
 * lifeguard/pg pipelines `pool.query()` by default: several callers' queries share one
 * connection, so per-query connect/acquire/release events and counts differ from pg.Pool's by
 * design. Scenarios that observe those run against lifeguard with its pipelining off; the name
 * of that option lives here only (it was renamed from `pipeline`, which is now pg's own Client
 * option and is passed through to the clients).
 */
import type { PoolConfig as LifeguardPoolConfig } from '../../../src/pg/index.js';

/** The options this file adds, which a scenario reading `pool.options` must not count. */
export const harnessOnlyKeys: readonly string[] = ['pipelineQueries'];

/** How lifeguard dispatches `pool.query()` in a run. */
export type Pipelining = 'on' | 'off';

/**
 * With pipelining on, the scenario's own object, untouched: lifeguard must then see exactly
 * what pg.Pool sees (and a scenario can check that the pool leaves it unchanged).
 */
export function lifeguardConfig(
  config: Readonly<Record<string, unknown>>,
  pipelining: Pipelining,
): LifeguardPoolConfig {
  const same = config as LifeguardPoolConfig;
  return pipelining === 'on' ? same : { ...same, pipelineQueries: false };
}
