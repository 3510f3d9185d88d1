/**
 * What a failure means. A SQL error (an ErrorResponse with a SQLSTATE and severity ERROR)
 * leaves the connection usable; anything that broke the connection means it must go. And for
 * a broken connection: can we prove the statement never reached the server?
 *
 * Everything here is structural (no `instanceof pg.DatabaseError`), so that a custom `Client`
 * class or a second copy of pg in the process classifies the same way.
 */
import type { CreateFailureCost } from '../core/index.js';
import type { FailureDetails } from './errors.js';

interface ErrorFields {
  code?: unknown;
  severity?: unknown;
  syscall?: unknown;
  errors?: unknown;
  cause?: unknown;
}

const sqlStatePattern = /^[0-9A-Z]{5}$/;

/** The SQLSTATE of an ErrorResponse from the server, or undefined. */
export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as ErrorFields;
  return typeof severity === 'string' && typeof code === 'string' && sqlStatePattern.test(code)
    ? code
    : undefined;
}

/** The system error code (`ECONNRESET`, `ERR_STREAM_DESTROYED`, ...), or undefined. */
export function errnoOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || sqlStateOf(error) !== undefined) {
    return undefined;
  }
  const { code, errors } = error as ErrorFields;
  if (typeof code === 'string') return code;
  // Connecting to a host with several addresses fails with an AggregateError of attempts.
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const innerCode = errnoOf(inner);
      if (innerCode !== undefined) return innerCode;
    }
  }
  return undefined;
}

/** A FATAL or PANIC ErrorResponse: the server is closing this session. */
export function isFatalServerError(error: unknown): boolean {
  if (sqlStateOf(error) === undefined) return false;
  const { severity } = error as ErrorFields;
  return severity === 'FATAL' || severity === 'PANIC';
}

/**
 * True when the failure proves the statement never left this process: the socket refused
 * the write (it was already reset or closed), or pg refused to send on a client it knew was
 * broken. A statement that was written may have run, even if no reply ever came.
 */
export function provesNotSent(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, syscall } = error as ErrorFields;
  if (syscall === 'write') return true;
  if (
    code === 'EPIPE' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_WRITE_AFTER_END'
  ) {
    return true;
  }
  return isPgRefusal(error);
}

/**
 * pg's own refusals (lib/client.js): raised on the next tick for a query handed to a client it
 * already knew was broken or closing, before anything is written. Unlike a failed write, this
 * proves "never sent" even for one of many queries pipelined on a connection.
 */
export function isPgRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const message = (error as Error).message;
  return (
    message === 'Client has encountered a connection error and is not queryable' ||
    message === 'Client was closed and is not queryable'
  );
}

/**
 * The error that explains a failure: pg's generic "not queryable" refusal says nothing, the
 * failure that broke the connection earlier (a FATAL with its SQLSTATE, a reset) does.
 */
export function explain(error: unknown, connectionFailure: Error | undefined): unknown {
  if (connectionFailure === undefined || connectionFailure === error) return error;
  const message = (error as Error | undefined)?.message;
  return message === 'Client has encountered a connection error and is not queryable' ||
    message === 'Connection terminated unexpectedly'
    ? connectionFailure
    : error;
}

/** SQLSTATE classes that retrying a connection will not fix: credentials, database, config. */
const permanentConnectClasses = new Set(['28', '3D', '42', '22', '0A']);
const permanentConnectErrnos = new Set([
  'ENOTFOUND',
  'EINVAL',
  'EACCES',
  'ERR_INVALID_URL',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * pg's own words for a connection that closed or timed out under the handshake: a server
 * shutting down, restarting, or a proxy in between refusing. They carry no code.
 */
const lostDuringHandshake = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Connection terminated',
  'timeout expired',
];

/**
 * Whether a failure to open a connection says the database could not be reached (an outage,
 * worth retrying with backoff) rather than something about this attempt: it carries a system
 * error code, a server SQLSTATE, or is one of pg's messages for a dropped handshake. An error
 * with none of these (say, from a custom Client class) is handed to the caller, as pg.Pool
 * does, instead of being retried.
 */
export function isRecognizedOutage(error: unknown): boolean {
  if (sqlStateOf(error) !== undefined || errnoOf(error) !== undefined) return true;
  const message = error instanceof Error ? error.message : '';
  return lostDuringHandshake.includes(message);
}

/** Classifies a failure to open a connection. */
export function connectFailure(error: unknown): FailureDetails {
  const sqlState = sqlStateOf(error);
  const errno = errnoOf(error);
  let retryable: boolean;
  if (sqlState !== undefined) {
    retryable = sqlState !== '08P01' && !permanentConnectClasses.has(sqlState.slice(0, 2));
  } else if (errno !== undefined) {
    retryable = !permanentConnectErrnos.has(errno) && !errno.startsWith('ERR_SSL_');
  } else {
    // Without a code: a TypeError/RangeError is a configuration mistake (bad connection
    // string, password that is not a string); so is a server that does not speak TLS.
    const message = error instanceof Error ? error.message : '';
    retryable =
      !(error instanceof TypeError || error instanceof RangeError) &&
      !message.includes('does not support SSL') &&
      !message.includes('sslnegotiation');
  }
  return { retryable, sqlState, errno };
}

/**
 * Connect errors that prove the server never saw the attempt: nothing accepted the TCP
 * connection (`ECONNREFUSED`: a closed port answers with a RST from the kernel, no server
 * process involved), there is no Unix socket at the path (`ENOENT`: the server is not running),
 * or no route led to the host (`EHOSTUNREACH`, `ENETUNREACH`: the packet never left, or an ICMP
 * answer came from the network). `ETIMEDOUT` is not among them: an unanswered SYN may be a
 * server whose accept queue is full, which is a server under load.
 */
const kFreeConnectErrnos = new Set(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A failed `connect` system call with one of those codes (every address, for several). */
function isUnreachedConnect(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, syscall, errors } = error as ErrorFields;
  // Connecting to a host with several addresses fails with an AggregateError of attempts.
  if (Array.isArray(errors) && errors.length > 0) return errors.every(isUnreachedConnect);
  return syscall === 'connect' && typeof code === 'string' && kFreeConnectErrnos.has(code);
}

/**
 * What a failure to open a connection cost the server, for the pool's backoff (the core's
 * `CreateFailureCost`):
 * - `'free'`: it never reached the server (see `kFreeConnectErrnos`);
 * - `'starting'`: the server answered 57P03 cannot_connect_now: it is starting up, shutting
 *   down or recovering, and cheaply tells each new connection so; the next answer will be a
 *   refusal (shut down) or a session (ready), soon either way;
 * - `'costly'`: everything else, which reached a server process: a startup or authentication
 *   error, a reset or a timeout after the accept, "too many clients" (53300). 57P01/57P02
 *   (terminated by an administrator, or because another backend crashed) are costly too: they
 *   say nothing about when the server will take connections, and an administrator terminating
 *   sessions in a loop must not be answered with a reconnect every few hundred milliseconds;
 *   a server going down after them is met by refusals or 57P03, which are paced as such.
 */
export function connectFailureCost(error: unknown): CreateFailureCost {
  if (sqlStateOf(error) === '57P03') return 'starting';
  return isUnreachedConnect(error) ? 'free' : 'costly';
}

/** Classifies a connection that broke under a query: always worth a new connection. */
export function lostFailure(error: unknown): FailureDetails {
  return { retryable: true, sqlState: sqlStateOf(error), errno: errnoOf(error) };
}

/** serialization_failure and deadlock_detected: the transaction may succeed if run again. */
export function isSerializationFailure(error: unknown): string | undefined {
  // ORMs wrap driver errors (Drizzle: DrizzleQueryError with `cause`); look a few levels down.
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const state = sqlStateOf(current);
    if (state === '40001' || state === '40P01') return state;
    current = (current as ErrorFields).cause;
  }
  return undefined;
}
