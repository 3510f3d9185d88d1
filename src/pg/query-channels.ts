/**
 * `lifeguard:pg:query:start` and `lifeguard:pg:query:end`: one message per `pool.query()`,
 * start and end sharing the object (docs/channels.md). Values are never published, only the
 * statement text: parameters often carry personal data or secrets, the text rarely does.
 */
import { namedChannel } from '../core/internal.js';

/** lifeguard/pg's channel names; `channels` from `lifeguard` lists them with the pool's. */
export const queryChannels = Object.freeze({
  queryStart: 'lifeguard:pg:query:start',
  queryEnd: 'lifeguard:pg:query:end',
});

const queryStartChannel = namedChannel(queryChannels.queryStart);
const queryEndChannel = namedChannel(queryChannels.queryEnd);

export interface QueryMessage {
  readonly pool: object;
  readonly name: string;
  /** The statement text (never its values). */
  readonly text: string;
  /** Set on end: how long the query took, queueing included, in milliseconds. */
  durationMillis?: number;
  /** Set on end, on success: the rows the statement returned or affected. */
  rowCount?: number | null;
  /** Set on end, on failure. */
  error?: unknown;
}

/** Whether anyone listens, read once per query. */
export function queryTraced(): boolean {
  return queryStartChannel.hasSubscribers || queryEndChannel.hasSubscribers;
}

/**
 * Runs `run` between a published start and end. The caller gets a promise that settles as
 * `run`'s does, with the same value or error.
 */
export function traceQuery<R extends { rowCount: number | null }>(
  pool: object,
  name: string,
  text: string,
  run: () => Promise<R>,
): Promise<R> {
  const message: QueryMessage = { pool, name, text };
  const startedAt = performance.now();
  if (queryStartChannel.hasSubscribers) queryStartChannel.publish(message);
  return run().then(
    (result) => {
      message.durationMillis = performance.now() - startedAt;
      message.rowCount = result.rowCount;
      if (queryEndChannel.hasSubscribers) queryEndChannel.publish(message);
      return result;
    },
    (error: unknown) => {
      message.durationMillis = performance.now() - startedAt;
      message.error = error;
      if (queryEndChannel.hasSubscribers) queryEndChannel.publish(message);
      throw error;
    },
  );
}
