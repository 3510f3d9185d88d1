/**
 * Which `pool.query()` calls may share a pipelined connection with other callers' queries.
 *
 * A pipelined connection (a "lane") carries queries from many callers at once, so a query
 * sent there must leave the session as it found it. A `BEGIN` would pull every query written
 * after it into its transaction (and a failure there would fail them all with 25P02); a
 * `SET`, `LISTEN`, `DECLARE` or `COPY` would change the session, or the protocol, under them.
 *
 * The rule is an allow-list, so that anything unusual takes the exclusive path (one
 * connection to itself, exactly as with `pipelineQueries: false`), which is always correct:
 *
 * - the statement starts with SELECT, INSERT, UPDATE, DELETE, WITH, VALUES, TABLE, MERGE,
 *   SHOW or EXPLAIN (leading whitespace only: a leading comment or parenthesis takes the
 *   exclusive path);
 * - it is a single statement. With parameters (or a `name`), pg uses the extended protocol,
 *   where PostgreSQL refuses a second statement itself; without, pg sends the text as a simple
 *   Query message, which may hold several, so the text may contain no `;` except at its end;
 * - nothing in the config needs the connection for longer than the statement: per-query
 *   timeouts (run as BEGIN; SET LOCAL; ...; COMMIT), pg's `query_timeout` (pg closes a
 *   pipelined connection when it fires, failing every query on it), `rows` (a portal kept
 *   open across round trips, which pg refuses in pipeline mode), or a `callback` in the
 *   config.
 *
 * What no syntactic rule can see: functions with session-wide effects, such as
 * `SELECT set_config('search_path', $1, false)` or `pg_advisory_lock()`. Those persist on the
 * connection exactly as they do with pg.Pool, but with pipelining other callers' queries may
 * be running on that connection at the same time. Use `connect()` for them.
 */
import type { QueryInput, QueryValues } from '../dispatch.js';
import { usesExtendedProtocol } from '../extended-protocol.js';

const kMaxKeywordLength = 7; // "explain", "returning" is never first

const pipelinedKeywords = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'values',
  'table',
  'merge',
  'show',
  'explain',
]);

/** The fields of a query config that decide its route; all optional, all untrusted. */
interface RouteFields {
  text?: unknown;
  name?: unknown;
  values?: unknown;
  queryMode?: unknown;
  rows?: unknown;
  callback?: unknown;
  query_timeout?: unknown;
  statementTimeout?: unknown;
  lockTimeout?: unknown;
  idleInTransactionSessionTimeout?: unknown;
}

export function isPipelinable(query: QueryInput, values: QueryValues): boolean {
  if (typeof query === 'string') {
    return isSafeStatement(query, values !== undefined && values !== null && values.length > 0);
  }
  if (typeof query !== 'object' || query === null) return false;
  const c = query as RouteFields;
  if (
    c.statementTimeout !== undefined ||
    c.lockTimeout !== undefined ||
    c.idleInTransactionSessionTimeout !== undefined ||
    c.query_timeout !== undefined ||
    c.rows !== undefined ||
    c.callback !== undefined
  ) {
    return false;
  }
  if (typeof c.text !== 'string') return false; // a name alone: prepared on which connection?
  return isSafeStatement(c.text, usesExtendedProtocol(c, values));
}

function isSafeStatement(text: string, extended: boolean): boolean {
  return startsWithPipelinedKeyword(text) && (extended || isSingleStatement(text));
}

function startsWithPipelinedKeyword(text: string): boolean {
  const length = text.length;
  let start = 0;
  while (start < length && isSpace(text.charCodeAt(start))) start++;
  let end = start;
  while (end < length && end - start <= kMaxKeywordLength && isLetter(text.charCodeAt(end))) end++;
  if (end === start || end - start > kMaxKeywordLength) return false;
  // "selectx" is an identifier, not SELECT; "select*" and "select(" are fine.
  if (end < length && isWordChar(text.charCodeAt(end))) return false;
  return pipelinedKeywords.has(text.slice(start, end).toLowerCase());
}

/** No `;` except trailing ones followed by nothing but whitespace. Conservative on literals. */
function isSingleStatement(text: string): boolean {
  const semicolon = text.indexOf(';');
  if (semicolon === -1) return true;
  for (let i = semicolon + 1; i < text.length; i++) {
    if (!isSpace(text.charCodeAt(i))) return false;
  }
  return true;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

function isLetter(code: number): boolean {
  const lower = code | 0x20;
  return lower >= 97 && lower <= 122;
}

function isWordChar(code: number): boolean {
  return isLetter(code) || (code >= 48 && code <= 57) || code === 95 || code === 36 || code > 127;
}
