/**
 * What every health handler answers, whatever the framework: an HTTP status, headers and a
 * JSON body, computed from a target's `health()`. Kept apart from the handlers so that
 * node:http, Express and Fastify answer byte for byte the same.
 *
 * - `ok` and `degraded` are 200: the instance can serve (degraded says it is under strain;
 *   pulling it out of rotation would move its load to instances that are probably in the same
 *   state). `down` is 503.
 * - A target whose `health()` throws, rejects or does not answer within `timeoutMillis` is a
 *   503 with a typed code, never an unhandled rejection and never a hung request.
 * - `Cache-Control: no-store`: a cached "ok" from a proxy is worse than no answer.
 */
import { PoolError, type HealthReport } from '../core/index.js';

/** Anything with a `health()` that resolves to a report: a lifeguard/pg Pool, or your own. */
export interface HealthTarget {
  health(): Promise<HealthReport>;
}

export interface HealthHandlerOptions {
  /**
   * The longest the handler waits for `health()`, in case the target does not bound itself
   * (lifeguard's checks do, within their own `timeoutMillis`). Default 10 000 ms.
   */
  timeoutMillis?: number | undefined;
  /**
   * `false` answers only `{ status, name }`: for an endpoint reachable from outside, since
   * stats and error messages (which name hosts, never credentials) are for operators. Default
   * `true`: the whole report.
   */
  details?: boolean | undefined;
}

/** A body when the target itself failed: no report to show, only a code. */
export interface HealthFailureBody {
  readonly status: 'down';
  readonly error: { readonly code: string; readonly message: string };
}

export interface HealthAnswer {
  readonly statusCode: 200 | 503;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const kDefaultTimeoutMillis = 10_000;

/** Resolves to the answer to send; never rejects. */
export async function answerHealth(
  target: HealthTarget,
  options: HealthHandlerOptions = {},
): Promise<HealthAnswer> {
  let report: HealthReport;
  try {
    report = await withinTimeout(target, options.timeoutMillis ?? kDefaultTimeoutMillis);
  } catch (error) {
    return respond(503, failureBody(error));
  }
  const status = report.status;
  const body = options.details === false ? { status, name: report.name } : report;
  return respond(status === 'down' ? 503 : 200, body);
}

/** The status lines a probe needs; `Content-Length` so HEAD and GET agree. */
function respond(statusCode: 200 | 503, value: unknown): HealthAnswer {
  const body = JSON.stringify(value);
  return {
    statusCode,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': String(Buffer.byteLength(body)),
    },
    body,
  };
}

/**
 * Only lifeguard's own errors are described: their messages are built by the library and
 * carry no credentials. Anything else a custom target threw is reported by kind alone.
 */
function failureBody(error: unknown): HealthFailureBody {
  if (error instanceof PoolError) {
    const { code, message } = error as PoolError<string>;
    return { status: 'down', error: { code, message } };
  }
  return {
    status: 'down',
    error: { code: 'ERR_HEALTH_CHECK_FAILED', message: 'The health check threw an error' },
  };
}

function withinTimeout(target: HealthTarget, timeoutMillis: number): Promise<HealthReport> {
  return new Promise<HealthReport>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new PoolError(
          'ERR_HEALTH_TIMEOUT',
          `The health check did not answer within ${timeoutMillis} ms`,
        ),
      );
    }, timeoutMillis);
    timer.unref();
    let pending: Promise<HealthReport>;
    try {
      pending = Promise.resolve(target.health());
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (report) => {
        clearTimeout(timer);
        resolve(report);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
