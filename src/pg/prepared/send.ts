/**
 * Where `pool.query()` hands a query to pg, on both paths (the pipelined lane and the
 * exclusive dispatcher): under a named statement of the connection's cache when it is one pg
 * would send with the extended protocol anyway, as given otherwise.
 *
 * Only texts pg already parses with Parse/Bind qualify: values (or `queryMode: 'extended'`),
 * no `name` of the user's, no portal (`rows`), no submittable, no callback in the config, no
 * client-side `query_timeout`. Without values pg uses the simple protocol, which allows
 * several statements in one text: those stay as they are.
 *
 * A query whose statement turns out to be lost (26000, after a DISCARD ALL or behind a
 * pooler), outdated (0A000 "cached plan must not change result type", after DDL changed its
 * result columns) or to collide with one of the same name (42P05, behind a pooler) is run
 * again, once, unnamed: exactly as pg.Pool would have run it. That is safe because the server
 * refused it before executing anything (at Bind, or at plan revalidation), and the statement
 * was alone in its implicit transaction (pool.query(), never inside BEGIN: a connection not
 * idle in a transaction gets no statements).
 */
import type pg from 'pg';

import { sqlStateOf } from '../classify.js';
import { usesExtendedProtocol } from '../extended-protocol.js';
import type { PgConnection } from '../connection.js';
import type { QueryConfig } from '../types.js';
import type { Statement, StatementCache } from './statement-cache.js';

/** dispatch.ts's `QueryInput` and `QueryValues` (not imported: dispatch.ts imports this file). */
type QueryInput = string | QueryConfig;
type QueryValues = unknown[] | undefined;

export type QueryCallback = (error: unknown, result: pg.QueryResult) => void;

/** pg's callback form of `query`, which costs no promise per query. */
type QueryWithCallback = (query: unknown, values: QueryValues, callback: QueryCallback) => void;

/**
 * How a query reaches pg: its client's `query(config, values, callback)` by default; a lane
 * passes its own, built once, which wraps the query in a `LaneQuery` (pipeline/lane-query.ts).
 */
export interface QueryIssuer {
  query: QueryWithCallback;
}

/** The fields of a query config that decide whether it may get a statement. */
interface ConfigFields {
  text?: unknown;
  name?: unknown;
  values?: unknown;
  queryMode?: unknown;
  rows?: unknown;
  portal?: unknown;
  callback?: unknown;
  submit?: unknown;
  query_timeout?: unknown;
}

/** pg's `client.query(query, values, callback)`, under a statement when one applies. */
export function sendQuery(
  connection: PgConnection,
  query: QueryInput,
  values: QueryValues,
  callback: QueryCallback,
  issue?: QueryIssuer,
): void {
  const cache = connection.statements;
  const client = connection.client as unknown as { query: QueryWithCallback };
  const statement =
    cache === undefined ? undefined : statementFor(cache, connection, query, values);
  const via = issue ?? client;
  if (statement === undefined) via.query(query, values, callback);
  else sendNamed(cache!, via, statement, query, values, callback, client);
}

/** The exclusive path's form: pg's own promise when no statement applies. */
export function queryOn(
  connection: PgConnection,
  query: QueryInput,
  values: QueryValues,
): Promise<pg.QueryResult> {
  try {
    const cache = connection.statements;
    const statement =
      cache === undefined ? undefined : statementFor(cache, connection, query, values);
    if (statement === undefined) return connection.client.query(query as pg.QueryConfig, values);
    const client = connection.client as unknown as { query: QueryWithCallback };
    return new Promise((resolve, reject) => {
      sendNamed(cache!, client, statement, query, values, (error, result) =>
        error === null || error === undefined ? resolve(result) : reject(error),
      );
    });
  } catch (error) {
    return Promise.reject(error);
  }
}

function statementFor(
  cache: StatementCache,
  connection: PgConnection,
  query: QueryInput,
  values: QueryValues,
): Statement | undefined {
  if (!cache.owner.enabled || connection.txStatus !== 'I') return undefined;
  const text = preparableText(query, values);
  return text === undefined ? undefined : cache.lookup(text);
}

/** The text to prepare, when pg would run `query` with the extended protocol, unnamed. */
export function preparableText(query: QueryInput, values: QueryValues): string | undefined {
  if (typeof query === 'string') {
    return query !== '' && Array.isArray(values) && values.length > 0 ? query : undefined;
  }
  if (typeof query !== 'object' || query === null) return undefined;
  const c = query as ConfigFields;
  if (typeof c.text !== 'string' || c.text === '') return undefined;
  if (
    c.name !== undefined ||
    c.rows !== undefined ||
    c.portal !== undefined ||
    c.callback !== undefined ||
    c.submit !== undefined ||
    c.query_timeout !== undefined
  ) {
    return undefined;
  }
  return usesExtendedProtocol(c, values) ? c.text : undefined;
}

/**
 * `via` is how the query reaches pg (the client, or a lane's issuer); `client` is the client
 * itself, which the pooler check asks (policy.ts).
 */
function sendNamed(
  cache: StatementCache,
  via: { query: QueryWithCallback },
  statement: Statement,
  query: QueryInput,
  values: QueryValues,
  callback: QueryCallback,
  client: unknown = via,
): void {
  const name = statement.name;
  const config = typeof query === 'string' ? statement.config : withName(query, name);
  const carriesParse = cache.beforeSend(statement);
  via.query(config, values, (error: unknown, result: pg.QueryResult) => {
    if (error === null || error === undefined) {
      if (statement.name === name) statement.confirmed = true;
      callback(error, result);
    } else if (failed(cache, client, statement, name, carriesParse, error)) {
      cache.owner.counted('retried');
      retry(via, query, values, callback);
    } else {
      callback(error, result);
    }
  });
}

/** A copy of the user's config (pg copies it too) with our name. */
function withName(query: object, name: string): object {
  const copy = Object.assign(
    Object.create(Object.getPrototypeOf(query) as object) as object,
    query,
  );
  (copy as { name: string }).name = name;
  return copy;
}

/**
 * What a failure under `name` says about `statement`; true when the query is to be run again
 * unnamed (see the top of the file).
 */
function failed(
  cache: StatementCache,
  client: unknown,
  statement: Statement,
  name: string,
  carriesParse: boolean,
  error: unknown,
): boolean {
  const current = statement.name === name;
  const code = sqlStateOf(error);
  const lost = code === '26000' && mentions(error, name);
  const duplicate = code === '42P05' && mentions(error, name);
  if (!lost && !duplicate && !(code === '0A000' && isStalePlan(error))) {
    // Not from the server (a parameter pg could not serialize: pg closed the statement), or
    // this query's own Parse failed: the name holds nothing to reuse.
    if (current && (code === undefined || (carriesParse && !cache.parsed(name)))) {
      cache.retire(statement);
    }
    return false;
  }
  const evidence = duplicate || (lost && current && statement.confirmed);
  if (current) cache.retire(statement);
  if (evidence) {
    cache.forgetAll(); // a DISCARD ALL took them all, or a pooler keeps none
    cache.owner.lost(cache, client);
  }
  return true;
}

/** The query as pg.Pool would have sent it. A callback pg makes from inside `query()` waits
 * for a microtask: the lane must not send from inside pg's send loop (lane.ts `send`). */
function retry(
  client: { query: QueryWithCallback },
  query: QueryInput,
  values: QueryValues,
  callback: QueryCallback,
): void {
  let inside = true;
  try {
    client.query(query, values, (error, result) => {
      if (inside) queueMicrotask(() => callback(error, result));
      else callback(error, result);
    });
  } catch (error) {
    queueMicrotask(() => callback(error, undefined as unknown as pg.QueryResult));
  } finally {
    inside = false;
  }
}

function mentions(error: unknown, name: string): boolean {
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && message.includes(`"${name}"`);
}

/** "cached plan must not change result type" (plancache.c; `routine` is not translated). */
function isStalePlan(error: unknown): boolean {
  const e = error as { routine?: unknown; message?: unknown };
  return (
    e.routine === 'RevalidateCachedQuery' ||
    (typeof e.message === 'string' && e.message.startsWith('cached plan must not change'))
  );
}
