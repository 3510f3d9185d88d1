/**
 * Turns scenarios into Vitest tests: for each scenario and each lifeguard configuration it
 * applies to, run it against pg.Pool, then against lifeguard, and expect lifeguard's log to
 * equal pg.Pool's, with only the scenario's declared deliberate differences.
 *
 * DIFFERENTIAL_LOGS=1 prints both logs of every test, to see what pg.Pool does when writing a
 * scenario or a deliberate difference.
 */
import { inspect } from 'node:util';

import type pg from 'pg';
import { describe, expect, it } from 'vitest';

import { databaseUrl } from '../helpers.js';
import { expectedLifeguardLog } from './deliberate.js';
import type { Observation } from './observation.js';
import { Recorder } from './recorder.js';
import type { Scenario } from './scenario.js';
import { lifeguard, pgPool, type ScenarioConfig, type Subject } from './subjects.js';
import { withinLimit } from './waits.js';

/** Two runs per test, each of which may wait out a few generous event limits. */
const kTestTimeoutMillis = 120_000;

export function describeScenarios(title: string, scenarios: readonly Scenario[]): void {
  describe(title, () => {
    for (const scenario of scenarios) {
      for (const subject of lifeguardSubjects(scenario)) {
        it(
          `${scenario.name} [${subject.name}]`,
          async () => {
            const pgPoolLog = await observe(pgPool, scenario);
            const lifeguardLog = await observe(subject, scenario);
            if (process.env['DIFFERENTIAL_LOGS']) printLogs(pgPoolLog, lifeguardLog);
            expect(lifeguardLog).toEqual(expectedLifeguardLog(pgPoolLog, scenario.deliberate));
          },
          scenario.timeoutMillis ?? kTestTimeoutMillis,
        );
      }
    }
  });
}

function lifeguardSubjects(scenario: Scenario): Subject[] {
  return scenario.pipelining === 'off' ? [lifeguard('off')] : [lifeguard('on'), lifeguard('off')];
}

/**
 * Runs the scenario against one implementation and returns its log. A scenario that throws
 * against pg.Pool is wrong and fails the test; against lifeguard, the throw is part of the log.
 */
async function observe(subject: Subject, scenario: Scenario): Promise<readonly Observation[]> {
  const rec = new Recorder();
  const pools: pg.Pool[] = [];
  const pool = (config: ScenarioConfig = {}): pg.Pool => {
    // The scenario's own object when it names a server, so a scenario can see whether the
    // pool changes the config it was given.
    const created = subject.create(
      config.connectionString === undefined ? { connectionString: databaseUrl, ...config } : config,
    );
    pools.push(created);
    return created;
  };
  try {
    try {
      await scenario.run({ rec, pool, subject: subject.name });
    } catch (error) {
      if (subject === pgPool) throw error;
      rec.step('the scenario threw', error);
    }
    // A copy taken now: what happens while the harness ends the pools is not part of the log.
    return [...rec.log];
  } finally {
    await Promise.all(pools.map(endQuietly));
  }
}

/**
 * Ends a pool the scenario may already have ended (pg.Pool then rejects). Bounded, because
 * pg.Pool waits forever for a client still checked out, and a scenario that went another way
 * against lifeguard may have left one.
 */
async function endQuietly(pool: pg.Pool): Promise<void> {
  await withinLimit(pool.end().catch(() => undefined));
}

function printLogs(pgPoolLog: readonly Observation[], lifeguardLog: readonly Observation[]): void {
  console.log(inspect({ pgPool: pgPoolLog, lifeguard: lifeguardLog }, { depth: null }));
}
