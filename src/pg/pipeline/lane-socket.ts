/**
 * What a lane does with the socket under pg's Client (pg's internals:
 * `client.connection.stream`): it corks it (cork-batch.ts), and it counts the bytes read from
 * it, for the large-result check (lane.ts, `pipelineLargeResultBytes`). A Client without such a
 * socket (a mock, pg-native) gets neither.
 */
import type pg from 'pg';

export interface Corkable {
  cork(): void;
  uncork(): void;
}

interface Counted {
  prependListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

function socketOf(client: pg.Client): Partial<Corkable & Counted> | undefined {
  return (client as unknown as { connection?: { stream?: Partial<Corkable & Counted> } }).connection
    ?.stream;
}

/** The client's socket, if it can be corked. */
export function corkableSocket(client: pg.Client): Corkable | undefined {
  const stream = socketOf(client);
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function'
    ? (stream as Corkable)
    : undefined;
}

/**
 * Calls `onData` with every chunk read from the client's socket, ahead of pg's parser, so that
 * the answers pg finds in a chunk reset the count after the chunk is counted. For the
 * connection's life: one addition per chunk read, lane or not.
 */
export function countReads(client: pg.Client, onData: (chunk: Buffer) => void): void {
  const stream = socketOf(client);
  if (typeof stream?.prependListener === 'function') stream.prependListener('data', onData);
}
