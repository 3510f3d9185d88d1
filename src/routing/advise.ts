/**
 * `advise()`: how large a pool should be, from the server's limits and sessions and, given a
 * Pool, from its measured load (issue 12). See docs/advise.md for the formulas.
 */
import { availableParallelism } from 'node:os';

import type { Pool } from '../pg/index.js';
import { computeAdvice } from './advise-compute.js';
import { samplePool, type StatsSource } from './advise-sample.js';
import { readServer, type Queryable } from './advise-server.js';
import { AdviseError, advisorPool, hostOf, scrub } from './advise-target.js';
import type { AdviceReport, AdviseOptions } from './advise-types.js';

const kDefaultSampleMillis = 1_000;
const kDefaultTimeoutMillis = 5_000;

/**
 * Reads the server (and the pool's own counters, given a Pool) and returns sizing advice.
 *
 * @example
 * import { advise, formatAdvice } from 'lifeguard/routing';
 * const report = await advise(pool, { appInstances: 4, serverCores: 8 });
 * console.log(formatAdvice(report)); // or report.recommendation.max
 */
export async function advise(
  target: Pool | string | { url: string },
  options: AdviseOptions = {},
): Promise<AdviceReport> {
  const settings = checkOptions(options);
  if (isPool(target)) {
    const sample = await samplePool(target, settings.sampleMillis, settings.since);
    // Read after the window closes, so that the advisor's own queries are not in the sample.
    const server = await readServer(target, true).catch((error: unknown) => {
      // lifeguard/pg has already taken the pool's credentials out of its errors.
      throw new AdviseError(`cannot read the server: ${describe(error, '')}`, { cause: error });
    });
    return computeAdvice({ ...settings, kind: 'pool', server, pool: sample, ...machine() });
  }
  const url = typeof target === 'string' ? target : target?.url;
  if (typeof url !== 'string' || url === '') {
    throw new AdviseError('advise() needs a lifeguard/pg Pool, a URL, or { url }');
  }
  const pool = advisorPool(url, settings.connectTimeoutMillis);
  try {
    const server = await readServer(pool, false);
    return computeAdvice({ ...settings, kind: 'url', server, pool: null, ...machine() });
  } catch (error) {
    throw new AdviseError(`cannot read the server at ${hostOf(url)}: ${describe(error, url)}`, {
      cause: error,
    });
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/**
 * By shape rather than `instanceof`, so that a Pool from another copy of lifeguard (two
 * versions installed side by side) is still recognised. pg.Pool has no `stats()`.
 */
function isPool(target: unknown): target is StatsSource & Queryable {
  const candidate = target as Partial<Record<'stats' | 'query', unknown>> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.stats === 'function' &&
    typeof candidate.query === 'function'
  );
}

function machine(): { localCores: number; generatedAt: Date } {
  return { localCores: availableParallelism(), generatedAt: new Date() };
}

/**
 * The error's own message, without the URL's secrets. Its causes are left out: lifeguard/pg's
 * plain message already names the failure (`connect ECONNREFUSED ...`, `timeout exceeded ...`),
 * and the chain below repeats it with the pool's internals.
 */
function describe(error: unknown, url: string): string {
  const message = error instanceof Error && error.message !== '' ? error.message : String(error);
  return scrub(message.replace(/\s+/g, ' ').trim(), url);
}

interface Settings {
  appInstances: number;
  spindles: number;
  serverCores: number | undefined;
  sampleMillis: number;
  since: number | undefined;
  connectTimeoutMillis: number;
}

function checkOptions(options: AdviseOptions): Settings {
  const integer = (name: keyof AdviseOptions, low: number): number | undefined => {
    const value = options[name];
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < low) {
      throw new AdviseError(`${name} must be an integer >= ${low}, got ${String(value)}`);
    }
    return value;
  };
  return {
    appInstances: integer('appInstances', 1) ?? 1,
    spindles: integer('spindles', 0) ?? 1,
    serverCores: integer('serverCores', 1),
    sampleMillis: integer('sampleMillis', 0) ?? kDefaultSampleMillis,
    since: integer('since', 0),
    connectTimeoutMillis: integer('connectTimeoutMillis', 1) ?? kDefaultTimeoutMillis,
  };
}
