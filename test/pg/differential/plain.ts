/**
 * Turns what a pool hands back into plain values that two implementations can be compared on:
 * a client becomes its label, an error `{ error, code, message }`, a query result its command,
 * row count, rows and field names. Anything else that is not plain data becomes a tag, so a log
 * never holds live objects.
 *
 * Properties whose value is undefined are left out, as `toEqual` ignores them anyway: an error
 * without a `code` and a callback called without a result read the same in both logs.
 */
import pg from 'pg';

import type { ClientLabels } from './labels.js';

export interface PlainError {
  /** The class name (`Error`, `DatabaseError`, ...): code that checks `instanceof` sees it. */
  readonly error: string;
  readonly code?: unknown;
  readonly message: string;
}

export interface PlainResult {
  readonly command: string;
  readonly rowCount: number | null;
  readonly rows: unknown[];
  readonly fields: string[];
}

export function plain(value: unknown, labels: ClientLabels): unknown {
  if (value === null || typeof value !== 'object') return plainPrimitive(value);
  if (value instanceof pg.Client) return labels.of(value);
  if (value instanceof Error) return plainError(value);
  if (isQueryResult(value)) return plainResult(value, labels);
  if (Array.isArray(value)) return value.map((item) => plain(item, labels));
  if (isPlainObject(value)) return plainObject(value, labels);
  return `[${value.constructor.name}]`;
}

export function plainError(error: Error): PlainError {
  const { code } = error as { code?: unknown };
  return {
    error: error.constructor.name,
    ...(code === undefined ? {} : { code }),
    message: error.message,
  };
}

function plainPrimitive(value: unknown): unknown {
  if (typeof value === 'function') return '[function]';
  if (typeof value === 'symbol') return value.toString();
  return value;
}

function plainResult(result: pg.QueryResult, labels: ClientLabels): PlainResult {
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows: plain(result.rows, labels) as unknown[],
    fields: result.fields.map((field) => field.name),
  };
}

function plainObject(value: object, labels: ClientLabels): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) out[key] = plain(item, labels);
  }
  return out;
}

function isQueryResult(value: object): value is pg.QueryResult {
  const candidate = value as Partial<pg.QueryResult>;
  return (
    typeof candidate.command === 'string' &&
    Array.isArray(candidate.rows) &&
    Array.isArray(candidate.fields)
  );
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
