import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  AcquireTimeoutError,
  CircuitOpenError,
  CreateFailedError,
  CreateTimeoutError,
  HookFailedError,
  InvalidOptionError,
  ListenerError,
  PoolClosedError,
  PoolError,
  QueueFullError,
  ReleaseError,
  describeError,
} from '../../src/core/index.js';

const counts = { total: 4, idle: 0, inUse: 4, pendingCreates: 1, waiting: 7 };

describe('the PoolError family', () => {
  const cases: [string, string, PoolError][] = [
    [
      'AcquireTimeoutError',
      'ERR_POOL_ACQUIRE_TIMEOUT',
      new AcquireTimeoutError(10, counts, undefined),
    ],
    ['PoolClosedError', 'ERR_POOL_CLOSED', new PoolClosedError()],
    ['QueueFullError', 'ERR_POOL_QUEUE_FULL', new QueueFullError(3)],
    ['AbortedError', 'ERR_POOL_ABORTED', new AbortedError('why')],
    ['CreateFailedError', 'ERR_POOL_CREATE_FAILED', new CreateFailedError(new Error('x'), 1)],
    ['CreateTimeoutError', 'ERR_POOL_CREATE_TIMEOUT', new CreateTimeoutError(5)],
    ['CircuitOpenError', 'ERR_POOL_CIRCUIT_OPEN', new CircuitOpenError(undefined, 5)],
    ['ReleaseError', 'ERR_POOL_RELEASE_INVALID', new ReleaseError('twice')],
    ['InvalidOptionError', 'ERR_POOL_INVALID_OPTION', new InvalidOptionError('max', 'bad')],
    ['HookFailedError', 'ERR_POOL_VALIDATION_FAILED', new HookFailedError('validate', 1)],
    ['HookFailedError', 'ERR_POOL_RESET_FAILED', new HookFailedError('reset', 1)],
    ['HookFailedError', 'ERR_POOL_DESTROY_FAILED', new HookFailedError('destroy', 1)],
    ['ListenerError', 'ERR_POOL_LISTENER_FAILED', new ListenerError('acquire', 1)],
  ];

  it.each(cases)('%s is a PoolError with the stable code %s', (name, code, error) => {
    expect(error).toBeInstanceOf(PoolError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(String(error)).toMatch(new RegExp(`^${name}: `));
    expect(error.stack).toContain(name);
  });

  it('keeps instanceof PoolError working across two copies of the library', () => {
    // What a second installed copy's error looks like: another class, the same global brand.
    class OtherCopyError extends Error {
      readonly code = 'ERR_POOL_CLOSED';
    }
    Object.defineProperty(OtherCopyError.prototype, Symbol.for('lifeguard.PoolError'), {
      value: true,
    });
    expect(new OtherCopyError('closed')).toBeInstanceOf(PoolError);
    expect(new Error('plain')).not.toBeInstanceOf(PoolError);
    expect(null).not.toBeInstanceOf(PoolError);
    expect({ code: 'ERR_POOL_CLOSED' }).not.toBeInstanceOf(PoolError);
  });

  it('keeps instanceof of the subclasses exact', () => {
    const aborted = new AbortedError('x');
    expect(aborted).toBeInstanceOf(AbortedError);
    expect(aborted).not.toBeInstanceOf(QueueFullError);
    expect(new PoolError('ERR_POOL_CLOSED', 'x')).not.toBeInstanceOf(PoolClosedError);
  });

  it('lets layers on top add their own codes', () => {
    const error = new PoolError<'ERR_PG_QUERY'>('ERR_PG_QUERY', 'query failed', { cause: 1 });
    expect(error.code).toBe('ERR_PG_QUERY');
    expect(error.cause).toBe(1);
    expect(error.name).toBe('PoolError');
  });
});

describe('AcquireTimeoutError', () => {
  it('says how long it waited and the pool counts', () => {
    const error = new AcquireTimeoutError(1000.4, counts, undefined);
    expect(error.message).toBe(
      'Timed out after 1000 ms waiting for a resource (total=4 idle=0 inUse=4 pendingCreates=1 waiting=7)',
    );
    expect(error.waitedMillis).toBe(1000.4);
    expect(error.counts).toEqual(counts);
    expect(error.cause).toBeUndefined();
    expect('cause' in error).toBe(false);
  });

  it('names the last creation error and chains it as the cause', () => {
    const root = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const last = new CreateFailedError(root, 3);
    const error = new AcquireTimeoutError(250, counts, last);
    expect(error.message).toBe(
      'Timed out after 250 ms waiting for a resource (total=4 idle=0 inUse=4 pendingCreates=1 waiting=7); last create error: Creating a resource failed (attempt 3): connect ECONNREFUSED 127.0.0.1:5432',
    );
    expect(error.cause).toBe(last);
    expect((error.cause as Error).cause).toBe(root);
  });
});

describe('CircuitOpenError', () => {
  it('names the last creation failure, when to retry, and chains it', () => {
    const root = new Error('password authentication failed');
    const last = new CreateFailedError(root, 5);
    const error = new CircuitOpenError(last, 1234.6);
    expect(error.message).toBe(
      'Failing fast: resource creation keeps failing, next attempt in 1235 ms; last create error: Creating a resource failed (attempt 5): password authentication failed',
    );
    expect(error.retryInMillis).toBe(1234.6);
    expect(error.cause).toBe(last);
    expect(last.cause).toBe(root);
  });

  it('never says a negative retry time', () => {
    expect(new CircuitOpenError(undefined, -20).message).toBe(
      'Failing fast: resource creation keeps failing, next attempt in 0 ms',
    );
  });
});

describe('the other errors', () => {
  it('CreateFailedError carries the attempt and the cause', () => {
    const error = new CreateFailedError('ECONNRESET', 2);
    expect(error.message).toBe('Creating a resource failed (attempt 2): ECONNRESET');
    expect(error.attempt).toBe(2);
    expect(error.cause).toBe('ECONNRESET');
  });

  it('CreateTimeoutError says how long one attempt may take', () => {
    const error = new CreateTimeoutError(2500);
    expect(error.message).toBe('Creating a resource timed out after 2500 ms');
    expect(error.timeoutMillis).toBe(2500);
  });

  it('AbortedError chains the signal reason', () => {
    const reason = new Error('user went away');
    expect(new AbortedError(reason).cause).toBe(reason);
    expect(new AbortedError(reason).message).toBe('The acquire was aborted by its signal');
  });

  it('QueueFullError says the limit', () => {
    const error = new QueueFullError(25);
    expect(error.maxWaiting).toBe(25);
    expect(error.message).toContain('maxWaiting=25');
  });

  it('HookFailedError tells a failure from a timeout', () => {
    const root = new Error('socket closed');
    const failed = new HookFailedError('reset', root);
    expect(failed.message).toBe("The factory's reset() failed: socket closed");
    expect(failed.cause).toBe(root);
    expect(failed.hook).toBe('reset');
    const timedOut = new HookFailedError('validate', undefined, 5000);
    expect(timedOut.message).toBe("The factory's validate() did not finish within 5000 ms");
    expect('cause' in timedOut).toBe(false);
  });

  it('ListenerError names the event and chains what the listener threw', () => {
    const root = new TypeError('oops');
    const error = new ListenerError('acquire', root);
    expect(error.event).toBe('acquire');
    expect(error.message).toBe('A listener for the "acquire" event threw');
    expect(error.cause).toBe(root);
  });

  it('PoolClosedError takes a specific message', () => {
    expect(new PoolClosedError().message).toBe('The pool is closed');
    expect(new PoolClosedError('ended while waiting').message).toBe('ended while waiting');
  });
});

describe('describeError', () => {
  it('describes anything thrown without trusting it to stringify', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError('plain string')).toBe('plain string');
    expect(describeError({ code: 'E1' })).toBe('{"code":"E1"}');
    expect(describeError(42)).toBe('42');
    expect(describeError(undefined)).toBe('undefined');
    expect(describeError(circular)).toBe('object');
    expect(describeError(10n)).toBe('bigint');
  });
});
