/**
 * The options of automatic prepared statements (`prepareStatements`,
 * `preparedStatementCacheSize`), checked once, at construction.
 */
import { InvalidOptionError } from '../../core/index.js';

/** `'auto'`: on, and off by itself behind a pooler that loses them; `true`: on whatever happens. */
export type PrepareMode = 'auto' | true;

export interface PrepareSettings {
  readonly mode: PrepareMode;
  /** Named statements kept per connection at most; the least recently used one is closed. */
  readonly capacity: number;
}

/** The pool options read here: none of them goes to `pg.Client`. */
export const prepareKeys = ['prepareStatements', 'preparedStatementCacheSize'] as const;

/**
 * 100 per connection: an application's hot statements are usually a few dozen, and every one
 * kept costs the server a cached plan (a few kB to tens of kB) in each backend. pgx keeps 512,
 * postgres.js all of them; with the admission rule of statement-cache.ts (a text is prepared
 * from its second use on) one-off texts never take a place, so a smaller cache stays full of
 * the statements that matter.
 */
const kCapacity = 100;

export function prepareSettings(config: {
  prepareStatements?: unknown;
  preparedStatementCacheSize?: unknown;
}): PrepareSettings | undefined {
  const mode = config.prepareStatements ?? 'auto';
  if (mode !== 'auto' && typeof mode !== 'boolean') {
    throw new InvalidOptionError(
      'prepareStatements',
      `expected 'auto', true or false, got ${typeof mode === 'string' ? JSON.stringify(mode) : typeof mode}`,
    );
  }
  const capacity = config.preparedStatementCacheSize ?? kCapacity;
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0) {
    throw new InvalidOptionError(
      'preparedStatementCacheSize',
      `expected an integer >= 0, got ${typeof capacity === 'number' ? capacity : typeof capacity}`,
    );
  }
  if (mode === false || capacity === 0) return undefined;
  return { mode, capacity };
}
