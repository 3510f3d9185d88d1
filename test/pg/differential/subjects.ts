/**
 * The implementations a scenario runs against: pg.Pool (pg-pool with pg's Client, what
 * `new pg.Pool()` is) as the reference, and lifeguard/pg with its `pool.query()` pipelining on
 * (its default) or off. Free of Vitest, so that child-process fixtures use it too.
 */
import type pg from 'pg';
import PgPool from 'pg-pool';

import { Pool as LifeguardPool } from '../../../src/pg/index.js';
import { lifeguardConfig, type Pipelining } from './lifeguard-config.js';

/**
 * A config as scenarios write it: pg.Pool's options, plus any key (misspelled ones too). The
 * `Client` and `onConnect` types are pg-pool's real ones, which @types/pg narrows.
 */
export type ScenarioConfig = Omit<pg.PoolConfig, 'Client' | 'onConnect'> & {
  Client?: new (config: pg.ClientConfig) => pg.Client;
  onConnect?: (client: pg.ClientBase) => void | Promise<void>;
} & Record<string, unknown>;

export interface Subject {
  /** Shown in test names and used by fixtures to pick the implementation. */
  readonly name: SubjectName;
  create(config: ScenarioConfig): pg.Pool;
}

export type SubjectName = 'pg.Pool' | 'lifeguard' | 'lifeguard, pipelineQueries: false';

export const pgPool: Subject = {
  name: 'pg.Pool',
  create: (config) => new PgPool(config as unknown as pg.PoolConfig),
};

export function lifeguard(pipelining: Pipelining): Subject {
  return {
    name: pipelining === 'on' ? 'lifeguard' : 'lifeguard, pipelineQueries: false',
    // lifeguard's Pool is typed to be assignable to @types/pg's (test/pg/compat.test.ts).
    create: (config) => new LifeguardPool(lifeguardConfig(config, pipelining)),
  };
}

/** The subject of that name, for a child process told which implementation to run. */
export function subjectNamed(name: string): Subject {
  const subject = [pgPool, lifeguard('on'), lifeguard('off')].find((s) => s.name === name);
  if (subject === undefined) throw new Error(`no implementation named ${JSON.stringify(name)}`);
  return subject;
}
