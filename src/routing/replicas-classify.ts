/**
 * Which statements may run on a read replica: a conservative classifier. It says "read" only
 * for a single statement it can see to be read-only, and "write" for everything else,
 * including what it does not understand. Being wrong towards "write" costs a trip to the
 * primary; being wrong towards "read" would send a write to a standby (which refuses it with
 * 25006, and the router then runs it on the primary) or, worse, a locking read to a server
 * where the lock means nothing.
 *
 * The text is lexed just enough to be read safely: comments, string literals (standard, E'',
 * dollar-quoted) and quoted identifiers are taken out, so that `SELECT 'DELETE'` is a read and
 * `SELECT 1; DELETE FROM t` is two statements. Words are then checked against what makes a
 * SELECT write or depend on the primary.
 */

/** How a read-only statement may start (`(` of a parenthesised query is skipped). */
const kReadStarts = new Set(['select', 'with', 'values', 'show', 'table', 'explain']);

/**
 * Words that make a statement a write or a locking read wherever they appear: DML (also inside
 * a data-modifying CTE), `SELECT ... INTO` (creates a table), and EXPLAIN's ANALYZE (runs it).
 * A column of one of these names sends its queries to the primary: conservative, not wrong.
 */
const kWriteWords = new Set([
  'insert',
  'update',
  'delete',
  'merge',
  'into',
  'copy',
  'truncate',
  'analyze',
  'analyse',
]);

/** Functions that write, take locks, or exist only on a primary. */
const kWriteFunctions = new Set([
  'nextval',
  'setval',
  'currval',
  'lastval',
  'set_config',
  'pg_notify',
  'pg_promote',
  'pg_switch_wal',
  'pg_reload_conf',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_logical_emit_message',
  'pg_drop_replication_slot',
  'loread',
  'lowrite',
]);
const kWriteFunctionPrefixes = [
  'txid_current',
  'pg_current_xact_id',
  'pg_current_wal',
  'pg_advisory',
  'pg_try_advisory',
  'pg_create_',
  'pg_replication_origin',
  'pg_wal_replay',
  'pg_stat_reset',
  'lo_',
  'dblink',
];

/** `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`: row locks. */
const kLockAfterFor = new Set(['update', 'share', 'no', 'key']);

/**
 * True when `text` is one statement that only reads: SELECT, WITH, VALUES, SHOW, TABLE or
 * EXPLAIN without ANALYZE, with no row lock, no data-modifying CTE, no `INTO`, and no call of
 * a function that writes or needs the primary (nextval, setval, pg_advisory_*, set_config,
 * txid_current, pg_current_xact_id, lo_*, ...). Several statements: false.
 */
export function isReadOnlySql(text: string): boolean {
  const words = wordsOf(text);
  if (words === undefined || words.length === 0) return false;
  if (!kReadStarts.has(words[0]!)) return false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (kWriteWords.has(word) || isWriteFunction(word)) return false;
    if (word === 'for' && kLockAfterFor.has(words[i + 1] ?? '')) return false;
  }
  return true;
}

function isWriteFunction(word: string): boolean {
  return kWriteFunctions.has(word) || kWriteFunctionPrefixes.some((p) => word.startsWith(p));
}

/**
 * The statement's words, lowercased, with literals and comments left out (a quoted
 * identifier's content counts as a word, so `"nextval"(...)` is still seen); undefined when
 * there is more than one statement or the text cannot be lexed (an unterminated literal).
 */
export function wordsOf(text: string): string[] | undefined {
  const words: string[] = [];
  let ended = false; // a `;` was seen: anything but blanks and comments after it is a 2nd statement
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    const skipped = skipNonCode(text, i);
    if (skipped === -1) return undefined;
    if (skipped > i) {
      if (text[i] === '"' && !ended) words.push(text.slice(i + 1, skipped - 1).toLowerCase());
      else if (ended && !isCommentAt(text, i)) return undefined;
      i = skipped;
      continue;
    }
    if (c === ';') {
      ended = true;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (ended) return undefined;
    const end = wordEnd(text, i);
    if (end > i) {
      words.push(text.slice(i, end).toLowerCase());
      i = end;
    } else {
      i++; // punctuation, operators, parameters' `$`
    }
  }
  return words;
}

function isCommentAt(text: string, i: number): boolean {
  return text.startsWith('--', i) || text.startsWith('/*', i);
}

/** Where a word (identifier or keyword; digits too) starting at `i` ends; `i` if none does. */
function wordEnd(text: string, i: number): number {
  let j = i;
  while (j < text.length && /[\p{L}\p{N}_$]/u.test(text[j]!)) j++;
  // `$1` is a parameter, not a word; a lone `$` cannot start one either.
  return text[i] === '$' ? i : j;
}

/**
 * If a comment, literal or quoted identifier starts at `i`: the index just past it; `i` if none
 * starts there; -1 if it never ends.
 */
function skipNonCode(text: string, i: number): number {
  if (text.startsWith('--', i)) {
    const end = text.indexOf('\n', i);
    return end === -1 ? text.length : end + 1;
  }
  if (text.startsWith('/*', i)) return skipBlockComment(text, i);
  const c = text[i]!;
  if (c === "'") return skipQuoted(text, i, "'", isEscapeString(text, i));
  if (c === '"') return skipQuoted(text, i, '"', false);
  if (c === '$') return skipDollarQuoted(text, i);
  return i;
}

/** Block comments nest in PostgreSQL. */
function skipBlockComment(text: string, i: number): number {
  let depth = 0;
  for (let j = i; j < text.length - 1; j++) {
    if (text[j] === '/' && text[j + 1] === '*') {
      depth++;
      j++;
    } else if (text[j] === '*' && text[j + 1] === '/') {
      depth--;
      j++;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}

/** `E'...'`: backslash escapes apply (the E is a word char just before the quote). */
function isEscapeString(text: string, i: number): boolean {
  const before = text[i - 1];
  return (before === 'e' || before === 'E') && !/[\p{L}\p{N}_$]/u.test(text[i - 2] ?? ' ');
}

function skipQuoted(text: string, i: number, quote: string, backslashes: boolean): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (backslashes && c === '\\') {
      j++;
    } else if (c === quote) {
      if (text[j + 1] !== quote) return j + 1;
      j++; // a doubled quote is the quote itself
    }
  }
  return -1;
}

/** `$tag$...$tag$` (the tag may be empty); `$1` and other `$`s are not quotes. */
function skipDollarQuoted(text: string, i: number): number {
  const match = /^\$([\p{L}_][\p{L}\p{N}_]*)?\$/u.exec(text.slice(i, i + 64));
  if (match === null) return i;
  const tag = match[0];
  const end = text.indexOf(tag, i + tag.length);
  return end === -1 ? -1 : end + tag.length;
}
