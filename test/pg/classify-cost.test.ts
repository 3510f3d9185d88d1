/**
 * What a failed connect cost the server (classify.ts `connectFailureCost`): only what provably
 * never reached it is free, 57P03 says it is starting up, everything else is costly.
 */
import { describe, expect, it } from 'vitest';

import { connectFailureCost } from '../../src/pg/classify.js';

const systemError = (code: string, syscall: string): Error =>
  Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
const serverError = (code: string): Error =>
  Object.assign(new Error(`server said ${code}`), { code, severity: 'FATAL' });

describe('the cost of a failed connect', () => {
  it.each(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH'])(
    'is free for %s on connect: the server never saw it',
    (code) => {
      expect(connectFailureCost(systemError(code, 'connect'))).toBe('free');
    },
  );

  it('is free for a host of several addresses only when every one refused', () => {
    const all = new AggregateError([
      systemError('ECONNREFUSED', 'connect'),
      systemError('ECONNREFUSED', 'connect'),
    ]);
    expect(connectFailureCost(all)).toBe('free');
    const mixed = new AggregateError([
      systemError('ECONNREFUSED', 'connect'),
      systemError('ETIMEDOUT', 'connect'),
    ]);
    expect(connectFailureCost(mixed)).toBe('costly');
  });

  it('is starting for 57P03 (starting up, shutting down, in recovery)', () => {
    expect(connectFailureCost(serverError('57P03'))).toBe('starting');
  });

  it.each([
    ['a reset after the accept', systemError('ECONNRESET', 'read')],
    ['an unanswered SYN (perhaps a full accept queue)', systemError('ETIMEDOUT', 'connect')],
    ['a missing file, not a missing socket', systemError('ENOENT', 'open')],
    ['out of local ports', systemError('EADDRNOTAVAIL', 'connect')],
    ['a wrong password', serverError('28P01')],
    ['too many clients', serverError('53300')],
    ['terminated by an administrator', serverError('57P01')],
    ['terminated after a crash elsewhere', serverError('57P02')],
    ['a dropped handshake', new Error('Connection terminated unexpectedly')],
    ['something that is not an error', 'refused'],
  ])('is costly for %s', (_, error) => {
    expect(connectFailureCost(error)).toBe('costly');
  });
});
