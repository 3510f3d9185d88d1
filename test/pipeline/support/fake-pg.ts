/**
 * A scripted stand-in for pg's Client in pipeline mode, and the pipelined dispatcher built
 * over it on the real core pool, for unit tests under fake timers: no server, no sleeps.
 *
 * The fake records every query written to it (`writes`, with whether the socket was corked)
 * and answers nothing by itself: the test answers, fails or stalls each query (`answer`,
 * `fail`, `pending`), or breaks the whole connection (`breakWith`), as pg would report it.
 */
import { EventEmitter } from 'node:events';

import type pg from 'pg';
import { afterEach, beforeEach, vi } from 'vitest';

import { Pool as CorePool, type PoolOptions } from '../../../src/core/index.js';
import { Checkout } from '../../../src/pg/checkout.js';
import { PgConnection } from '../../../src/pg/connection.js';
import { PooledDispatcher } from '../../../src/pg/dispatch.js';
import type { PipelineSettings } from '../../../src/pg/options.js';
import { PipelineDispatcher } from '../../../src/pg/pipeline/dispatcher.js';
import { Redactor } from '../../../src/pg/redact.js';
import { fakeTimerConfig } from '../../core/support/harness.js';

type Callback = (error: unknown, result?: pg.QueryResult) => void;

/** One query written to a fake client. */
export interface Written {
  readonly text: string;
  readonly values: unknown[] | undefined;
  /** The socket was corked when it was written. */
  readonly corked: boolean;
  /** Called back (answered or failed) at least once. */
  settled: boolean;
  readonly callback: Callback;
}

class FakeStream extends EventEmitter {
  corks = 0;
  /** Times the outer cork was released, i.e. batches that left in one write. */
  flushes = 0;
  destroyed = false;
  writable = true;
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.corks--;
    if (this.corks === 0) this.flushes++;
  }
  destroy(): void {
    this.destroyed = true;
    this.writable = false;
  }
}

export class FakeClient extends EventEmitter {
  pipeline = false;
  readyForQuery = true;
  _activeQuery: unknown = undefined;
  readonly _queryQueue: unknown[] = [];
  readonly _sentQueryQueue: unknown[] = [];
  readonly password = undefined;
  readonly stream = new FakeStream();
  readonly connection = { stream: this.stream, on: () => undefined };
  readonly writes: Written[] = [];
  /** Fails a query synchronously from inside `query()`, as pg does for a bad parameter. */
  failInsideSend: ((values: unknown[] | undefined) => Error | undefined) | undefined;

  _pulsePipelinedQueryQueue(): void {}

  /** pg's callback form (what lanes use) and promise form (the exclusive path). */
  query(config: unknown, values?: unknown, callback?: Callback): Promise<pg.QueryResult> | void {
    const text = typeof config === 'string' ? config : String((config as { text: unknown }).text);
    let promise: Promise<pg.QueryResult> | undefined;
    let cb = callback;
    if (cb === undefined) {
      promise = new Promise((resolve, reject) => {
        cb = (error, result) => (error ? reject(error) : resolve(result!));
      });
    }
    const written: Written = {
      text,
      values: values as unknown[] | undefined,
      corked: this.stream.corks > 0,
      settled: false,
      callback: cb!,
    };
    this.writes.push(written);
    const early = this.failInsideSend?.(written.values);
    if (early !== undefined) cb!(early);
    return promise;
  }

  /** The queries written and not yet called back, oldest first. */
  get pending(): Written[] {
    return this.writes.filter((w) => !w.settled);
  }

  /** `bytes` more of an answer arrive on the socket (as one read), before pg parses them. */
  receive(bytes: number): void {
    this.stream.emit('data', Buffer.alloc(bytes));
  }

  /** Answers the oldest pending query (or `which`) with one row `{ text }`. */
  answer(which: Written | undefined = this.pending[0]): void {
    this.#settle(which!, null, result(which!.text));
  }

  /** Fails the oldest pending query (or `which`) with `error`. */
  fail(error: unknown, which: Written | undefined = this.pending[0]): void {
    this.#settle(which!, error);
  }

  /** The connection breaks: 'error' now, every pending query fails on the next tick (pg). */
  breakWith(error: Error): void {
    this.stream.destroy();
    this.emit('error', error);
    process.nextTick(() => {
      for (const w of this.pending) this.#settle(w, error);
    });
  }

  async end(): Promise<void> {
    this.emit('end');
  }

  #settle(which: Written, error: unknown, value?: pg.QueryResult): void {
    which.settled = true;
    which.callback(error, value);
  }
}

export function result(text: string): pg.QueryResult {
  return { command: 'SELECT', rowCount: 1, oid: 0, fields: [], rows: [{ text }] };
}

/** A SQL error as pg reports it: SQLSTATE and severity ERROR. */
export function sqlError(code = '22012'): Error {
  return Object.assign(new Error('division by zero'), { code, severity: 'ERROR' });
}

/** A reset socket, as Node reports it. */
export function reset(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
}

export const defaultSettings: PipelineSettings = {
  depth: 4,
  slowQueryMillis: 10,
  isolateSlowQueries: false,
  largeResultBytes: 1024 * 1024,
};

export interface Rig {
  readonly core: CorePool<PgConnection>;
  readonly checkout: Checkout;
  readonly dispatcher: PipelineDispatcher;
  /** Every client made, in order. */
  readonly clients: FakeClient[];
  /** Queries by text, through the dispatcher (never an unhandled rejection). */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

const rigs = new Set<Rig>();

/** Fake timers around each test; every rig closed after it. */
export function useFakePg(): void {
  beforeEach(() => {
    vi.useFakeTimers(fakeTimerConfig);
  });
  afterEach(async () => {
    for (const rig of rigs) {
      rig.dispatcher.close();
      void rig.core.end({ timeoutMillis: 0 });
    }
    rigs.clear();
    await vi.advanceTimersByTimeAsync(60_000);
    vi.useRealTimers();
  });
}

/** The pipelined dispatcher over fake clients, on the real core pool. */
export function makeRig(core: PoolOptions = {}, settings: Partial<PipelineSettings> = {}): Rig {
  const clients: FakeClient[] = [];
  const redactor = new Redactor([]);
  const pool = new CorePool<PgConnection>(
    {
      create: () => {
        const client = new FakeClient();
        clients.push(client);
        return Promise.resolve(
          new PgConnection(client as unknown as pg.Client, redactor, () => {}),
        );
      },
      destroy: () => Promise.resolve(),
    },
    { max: 2, acquireTimeoutMillis: 1_000, ...core },
  );
  const checkout = new Checkout(pool);
  const exclusive = new PooledDispatcher(checkout, redactor);
  const dispatcher = new PipelineDispatcher(
    checkout,
    redactor,
    { ...defaultSettings, ...settings },
    exclusive,
  );
  const rig: Rig = {
    core: pool,
    checkout,
    dispatcher,
    clients,
    query: (text, values) => {
      const promise = dispatcher.dispatch(text, values);
      promise.catch(() => {}); // queries left waiting fail when the rig is closed
      return promise;
    },
  };
  rigs.add(rig);
  return rig;
}
