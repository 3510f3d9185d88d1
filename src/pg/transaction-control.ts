/**
 * Transaction control sent through `pool.query()`. Each `pool.query()` may run on a different
 * connection (with pipelining, on a connection shared with other callers), so a `BEGIN` sent
 * that way does not hold the statements after it: they would run, and commit, on their own,
 * and the `ROLLBACK` would find no transaction. With pg.Pool the pattern only works by chance
 * (one caller, one idle client) and loses updates under concurrency. So it is refused, loudly.
 *
 * Pinning the connection to the caller's async context instead (AsyncLocalStorage) was
 * weighed and left out: `BEGIN` is usually the first statement of an async function, so it
 * runs in the synchronous part that the function shares with its caller, and a store entered
 * there leaks to the caller and to every sibling the caller starts next in the same turn
 * (`Promise.all(tasks.map(run))`): their queries would silently join another task's
 * transaction, which is worse than the error.
 */

/** Keywords that open, end or mark a transaction when they start a statement. */
const kControlKeywords = new Set([
  'begin',
  'start',
  'commit',
  'end',
  'rollback',
  'abort',
  'savepoint',
  'release',
]);

/** The length of the longest keyword above ("rollback", "savepoint"). */
const kLongestKeyword = 9;

/**
 * The transaction-control statement `text` consists of (`BEGIN`, `COMMIT`, `ROLLBACK TO s`,
 * ...), or undefined. Only a single statement is judged here: several in one text (`BEGIN;
 * UPDATE ...; COMMIT`) run on one connection and are fine, and one that leaves a transaction
 * open is caught after it ran (dispatch.ts). `COMMIT PREPARED` and `ROLLBACK PREPARED` act on
 * a prepared transaction, not on the session's, and pass.
 */
export function transactionControl(query: unknown): string | undefined {
  const text = typeof query === 'string' ? query : (query as { text?: unknown } | null)?.text;
  if (typeof text !== 'string' || startsWithOtherWord(text)) return undefined;
  const statement = stripComments(text).trim().replace(/;\s*$/, '');
  if (statement.includes(';')) return undefined;
  const words = statement.toLowerCase().split(/\s+/, 3);
  const first = words[0] ?? '';
  if (!kControlKeywords.has(first)) return undefined;
  if (first === 'start' && words[1] !== 'transaction') return undefined;
  if ((first === 'commit' || first === 'rollback') && words[1] === 'prepared') return undefined;
  return statement.replace(/\s+/g, ' ');
}

/**
 * The fast path, for the common case on every `pool.query()`: the text opens (after
 * whitespace) with an ASCII word that is no control keyword, so it is no control statement,
 * and the regular expressions below need not run. Anything else (a comment first, a
 * non-ASCII letter, which `toLowerCase` might fold into ASCII) takes the full check.
 */
function startsWithOtherWord(text: string): boolean {
  const length = text.length;
  let start = 0;
  let code = 0;
  while (start < length && ((code = text.charCodeAt(start)) === 32 || (code >= 9 && code <= 13)))
    start++;
  let end = start;
  while (end < length && end - start < kLongestKeyword + 1) {
    code = text.charCodeAt(end) | 0x20;
    if (code < 97 || code > 122) break;
    end++;
  }
  if (end === start) return false; // a comment, a parenthesis, nothing: check fully
  if (end < length && text.charCodeAt(end) >= 128) return false;
  return (
    end - start > kLongestKeyword || !kControlKeywords.has(text.slice(start, end).toLowerCase())
  );
}

/** Removes `-- line` and `/* block *\/` comments (not inside quotes: control has none). */
function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ');
}
