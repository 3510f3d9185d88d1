/**
 * The advisor's connection when it is given a URL rather than a Pool: one short-lived
 * lifeguard/pg Pool of one connection, bounded in time so that a dead or unreachable server
 * fails the advice within the timeout instead of hanging it, and a URL check up front so that
 * a typo is reported as such. Messages never carry the password (issue 12).
 */
import { Pool } from '../pg/index.js';

/** The advisor's own failure: bad input, or a server it could not reach or read. */
export class AdviseError extends Error {
  readonly code = 'ERR_LIFEGUARD_ADVISE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdviseError';
  }
}

/** `url` without its password (and as given, when it is not a URL at all, minus `:...@`). */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@\s]*):[^@\s]*@/, '//$1:***@');
  }
}

/** `text` with every secret of `url` (the whole URL, the password raw and decoded) masked. */
export function scrub(text: string, url: string): string {
  const secrets = new Set<string>([url]);
  try {
    const { password } = new URL(url);
    if (password !== '') {
      secrets.add(password);
      try {
        secrets.add(decodeURIComponent(password));
      } catch {
        // a malformed escape: the raw form is masked already
      }
    }
  } catch {
    // not a URL: the whole string, masked above, is all we know
  }
  let result = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== '') result = result.split(secret).join(secret === url ? maskUrl(url) : '***');
  }
  return result;
}

/**
 * Throws unless `url` is a postgres:// URL. The input is not echoed: what is not a URL may be
 * a password pasted in the wrong place, and masking can only find passwords where URLs put them.
 */
export function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AdviseError('not a URL (expected postgres://user@host:port/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new AdviseError(
      `not a PostgreSQL URL: scheme ${JSON.stringify(parsed.protocol)} (expected postgres:// or postgresql://)`,
    );
  }
}

/** Where `url` points, without user or password: for messages. */
export function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host === '' ? 'localhost' : parsed.host}${parsed.pathname}`;
  } catch {
    return 'the server';
  }
}

/** A one-connection pool for `url`; its first failed connect fails the caller at once. */
export function advisorPool(url: string, timeoutMillis: number): Pool {
  checkUrl(url);
  return new Pool({
    connectionString: url,
    max: 1,
    connectionTimeoutMillis: timeoutMillis,
    // One refused or reset connect is the answer: no backoff and retry while the user waits.
    circuitBreakerThreshold: 1,
    pipelineQueries: false,
    query_timeout: timeoutMillis,
    application_name: 'lifeguard-advise',
    endTimeoutMillis: timeoutMillis,
  });
}
