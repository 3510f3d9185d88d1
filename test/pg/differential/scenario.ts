/**
 * A scenario: one piece of pg.Pool behaviour, written once against the pg.Pool API and run
 * against each implementation. It records what it sees through `rec`; the harness compares
 * the logs.
 */
import type pg from 'pg';

import type { Deliberate } from './deliberate.js';
import type { Recorder } from './recorder.js';
import type { ScenarioConfig, SubjectName } from './subjects.js';

export interface ScenarioContext {
  readonly rec: Recorder;
  /**
   * A pool of the implementation under test, on the shared database unless `config` names
   * another `connectionString`. Ended after the scenario.
   */
  pool(config?: ScenarioConfig): pg.Pool;
  /**
   * Which implementation runs. Only for scenarios that must pass it on (to a child process);
   * a scenario never changes what it does based on it.
   */
  readonly subject: SubjectName;
}

export interface Scenario {
  readonly name: string;
  /**
   * 'off' when the scenario observes per-query connections (connect/acquire/release events,
   * counts) through `pool.query()`, which lifeguard's pipelining shares by design: it then runs
   * only against lifeguard with `pipelineQueries: false`. Default 'either': against lifeguard
   * with its defaults and with pipelining off.
   */
  readonly pipelining?: 'either' | 'off';
  readonly deliberate?: Deliberate;
  /** For scenarios that wait on real timers (maxLifetimeSeconds), beyond the default. */
  readonly timeoutMillis?: number;
  run(context: ScenarioContext): Promise<void>;
}
