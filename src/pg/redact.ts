/**
 * Keeps credentials out of errors, events and logs. pg can put a connection string into an
 * error (an invalid URL's `input`), DNS and TLS errors can echo what they were given, and
 * users' `onConnect` hooks can throw anything. Every error that leaves `lifeguard/pg` from a
 * connection-level path goes through `Redactor.error` first.
 */
import type { PoolConfig } from './types.js';

const kMask = '***';
/** `scheme://user:password@` in any text. */
const urlUserInfo = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s/]*@/gi;
/** `password=...` in libpq key/value strings and query strings. */
const keyValuePassword = /(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi;

export class Redactor {
  /** Longest first, so that a secret containing another one is masked whole. */
  readonly #secrets: readonly string[];

  constructor(secrets: Iterable<string | undefined>) {
    const unique = new Set<string>();
    for (const secret of secrets) if (secret !== undefined && secret !== '') unique.add(secret);
    this.#secrets = [...unique].sort((a, b) => b.length - a.length);
  }

  /** A redactor that also masks `secret` (for example a password resolved at connect time). */
  with(secret: unknown): Redactor {
    if (typeof secret !== 'string' || secret === '' || this.#secrets.includes(secret)) return this;
    return new Redactor([...this.#secrets, secret]);
  }

  text(value: string): string {
    let result = value;
    for (const secret of this.#secrets) {
      if (result.includes(secret)) result = result.split(secret).join(kMask);
    }
    return result.replace(urlUserInfo, `$1${kMask}@`).replace(keyValuePassword, `$1${kMask}`);
  }

  /**
   * Masks secrets in an error in place: its message, stack and string properties, and the
   * same for its `cause` chain, `AggregateError.errors` and any nested error. Returns it.
   */
  error<E>(error: E): E {
    this.#scrub(error, new Set());
    return error;
  }

  #scrub(value: unknown, seen: Set<object>): void {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    const record = value as Record<string, unknown>;
    const keys = new Set<string>(Object.keys(record));
    if (value instanceof Error) for (const key of ['message', 'stack', 'cause']) keys.add(key);
    for (const key of keys) {
      let field: unknown;
      try {
        field = record[key];
      } catch {
        continue; // a throwing getter is not ours to fix
      }
      if (typeof field === 'string') {
        const masked = this.text(field);
        if (masked !== field) assign(record, key, masked);
      } else if (Array.isArray(field)) {
        for (const item of field) this.#scrub(item, seen);
      } else if (field instanceof Error || key === 'cause') {
        this.#scrub(field, seen);
      }
    }
  }
}

function assign(target: Record<string, unknown>, key: string, value: string): void {
  try {
    target[key] = value;
    if (target[key] === value) return;
  } catch {
    // read-only property: fall through to defineProperty
  }
  try {
    Object.defineProperty(target, key, { value, configurable: true, writable: true });
  } catch {
    // frozen: nothing more we can do
  }
}

/**
 * The credentials in a pool's config, to be masked: the password, the connection string, and
 * the password inside it, as given and URL-decoded.
 */
export function secretsOf(config: PoolConfig): string[] {
  const secrets: string[] = [];
  if (typeof config.password === 'string') secrets.push(config.password);
  const url = config.connectionString;
  if (typeof url === 'string' && url !== '') {
    secrets.push(url);
    try {
      const password = new URL(url).password;
      if (password !== '') secrets.push(password, safeDecode(password));
    } catch {
      // Not a URL (a libpq key/value string): the Redactor's patterns cover `password=`.
    }
  }
  return secrets;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
