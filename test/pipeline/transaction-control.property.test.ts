/**
 * `transactionControl`'s fast path (an opening word that is no control keyword) must never
 * change its answer: checked against the full check alone, on texts built from the pieces
 * that matter (control keywords in any case, other words, whitespace, comments, `;`, a
 * Unicode letter that lowercases into ASCII, non-ASCII spaces).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { transactionControl } from '../../src/pg/transaction-control.js';

/** The check as it was before the fast path: the oracle. */
function fullCheck(text: string): string | undefined {
  const keywords = ['begin', 'start', 'commit', 'end', 'rollback', 'abort', 'savepoint', 'release'];
  const stripped = text.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ');
  const statement = stripped.trim().replace(/;\s*$/, '');
  if (statement.includes(';')) return undefined;
  const words = statement.toLowerCase().split(/\s+/, 3);
  const first = words[0] ?? '';
  if (!keywords.includes(first)) return undefined;
  if (first === 'start' && words[1] !== 'transaction') return undefined;
  if ((first === 'commit' || first === 'rollback') && words[1] === 'prepared') return undefined;
  return statement.replace(/\s+/g, ' ');
}

const piece = fc.oneof(
  fc.constantFrom('begin', 'BEGIN', 'Commit', 'start', 'transaction', 'rollback', 'savepoint'),
  fc.constantFrom('end', 'abort', 'release', 'prepared', 'select', 'selectx', 'beginx', 'work'),
  fc.constantFrom('ROLLBAC\u212A', '\u212Aey', 'é', '1', '(', '$1', "'x'"),
  fc.constantFrom(' ', '  ', '\n', '\t', '\u00a0', '\ufeff', ';', '; ', '--c\n', '/* c */', '/*'),
);

describe('transactionControl', () => {
  it('answers as the full check does, whatever the text', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const text = pieces.join('');
        expect(transactionControl(text)).toBe(fullCheck(text));
        expect(transactionControl({ text })).toBe(fullCheck(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('finds control statements behind whitespace and comments', () => {
    expect(transactionControl('  begin')).toBe('begin');
    expect(transactionControl('/* x */ COMMIT;')).toBe('COMMIT');
    expect(transactionControl('\u00a0rollback to s')).toBe('rollback to s');
    expect(transactionControl('ROLLBAC\u212A')).toBe('ROLLBAC\u212A');
    expect(transactionControl('select 1')).toBeUndefined();
    expect(transactionControl('commit prepared $1')).toBeUndefined();
  });
});
