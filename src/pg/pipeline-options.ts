/** The options of the pipelined `pool.query()` (docs/pipelining.md), resolved and checked. */
import { InvalidOptionError } from '../core/index.js';
import { checkBoolean, checkNonNegative } from './option-checks.js';
import type { PoolConfig } from './types.js';

export interface PipelineSettings {
  /** The most queries in flight on one lane. */
  readonly depth: number;
  /** A lane whose oldest query has run longer than this takes no new ones. */
  readonly slowQueryMillis: number;
  /** Statements seen running longer than `slowQueryMillis` are run apart, not pipelined. */
  readonly isolateSlowQueries: boolean;
  /** A lane whose oldest query's answer has brought in more bytes than this takes no new ones. */
  readonly largeResultBytes: number;
}

/**
 * Measured with bench/pipeline.ts (`SELECT $1::int`, max 10, 2 cores; BENCHMARKS.md): 256
 * keeps 100 callers on one or two connections and 1000 callers on four, which gave both the
 * best throughput and a p99 at or under half of pg.Pool's; 64 opened all ten connections at
 * 1000 callers, and the extra backends only competed for the cores. Slow queries do not pile
 * up behind a deep pipeline: `pipelineSlowQueryMillis` stops a lane taking more once its oldest
 * query runs long, and new lanes open instead.
 */
const kPipelineDepth = 256;
/**
 * With 1% of queries taking 50 ms (bench/pipeline.ts --mixed, 100 callers), 10 ms kept 2.6x the
 * throughput of 50 ms and half its fast-query p99, and cost nothing without slow queries.
 */
const kPipelineSlowQueryMillis = 10;
/**
 * 1 MiB: what pg reads and parses in a few ms, well within `kPipelineSlowQueryMillis`, and far
 * beyond the answers of the short queries pipelining is for.
 */
const kPipelineLargeResultBytes = 1024 * 1024;

/** The pipeline's settings, or undefined when `pool.query()` is not pipelined. */
export function pipelineSettings(config: PoolConfig): PipelineSettings | undefined {
  const on = checkBoolean('pipelineQueries', config.pipelineQueries ?? true);
  const depth = config.pipelineDepth ?? kPipelineDepth;
  if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 1) {
    throw new InvalidOptionError('pipelineDepth', `expected an integer >= 1, got ${String(depth)}`);
  }
  const slowQueryMillis = config.pipelineSlowQueryMillis ?? kPipelineSlowQueryMillis;
  checkNonNegative('pipelineSlowQueryMillis', slowQueryMillis);
  const isolateSlowQueries = checkBoolean(
    'pipelineIsolateSlowQueries',
    config.pipelineIsolateSlowQueries ?? true,
  );
  const largeResultBytes = config.pipelineLargeResultBytes ?? kPipelineLargeResultBytes;
  checkNonNegative('pipelineLargeResultBytes', largeResultBytes);
  // pg's client-side read timeout (`query_timeout`) closes the connection when it fires, which
  // on a shared lane would fail every other caller's query with it: such pools run one query
  // per connection, as pg.Pool does.
  const readTimeout = config.query_timeout;
  if (typeof readTimeout === 'number' && readTimeout > 0) return undefined;
  return on ? { depth, slowQueryMillis, isolateSlowQueries, largeResultBytes } : undefined;
}
