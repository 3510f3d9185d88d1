/**
 * Small measurement and formatting helpers shared by `npm start` (scripts/start.ts) and the
 * PostgreSQL benchmark (bench/pg.ts): a latency log with exact percentiles, medians, aligned
 * text tables, number formats, and masking of secrets in anything we print.
 */

/**
 * Latencies in milliseconds, appended to a growable Float64Array: recording stays a store and
 * an increment, so the measuring costs the same for every pool under test.
 */
export class LatencyLog {
  #values = new Float64Array(4096);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  record(millis: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = millis;
  }

  /** Exact quantiles of everything recorded (sorts a copy; call it after the measurement). */
  summary(): LatencySummary {
    const sorted = this.#values.slice(0, this.#count).sort();
    let sum = 0;
    for (const value of sorted) sum += value;
    return {
      count: sorted.length,
      mean: sorted.length === 0 ? 0 : sum / sorted.length,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
    };
  }
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank quantile of an ascending array (0 when empty). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A plain-text table. By default the first column is left-aligned and the others right-aligned;
 * `align` ('l' or 'r' per column) overrides that.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly ('l' | 'r')[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = (i: number): boolean => (align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l';
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (left(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Requests or queries per second: 3 significant digits, grouped (12 345, 987, 4.21). */
export function fmtRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-';
  if (perSecond >= 100) return Math.round(perSecond).toLocaleString('en-US').replace(/,/g, ' ');
  return perSecond.toPrecision(3);
}

/** Milliseconds with precision that suits the magnitude (0.123, 4.56, 78.9, 1 234). */
export function fmtMs(millis: number): string {
  if (!Number.isFinite(millis)) return '-';
  if (millis >= 1000) return Math.round(millis).toLocaleString('en-US').replace(/,/g, ' ');
  if (millis >= 100) return millis.toFixed(0);
  if (millis >= 10) return millis.toFixed(1);
  if (millis >= 1) return millis.toFixed(2);
  return millis.toFixed(3);
}

export function fmtRatio(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '-';
  return ratio >= 100
    ? `${ratio.toFixed(0)}x`
    : ratio >= 10
      ? `${ratio.toFixed(1)}x`
      : `${ratio.toFixed(2)}x`;
}

export function fmtSeconds(millis: number): string {
  return `${(millis / 1000).toFixed(millis < 10_000 ? 2 : 1)} s`;
}

/**
 * Masks the password of `url` (raw and percent-decoded) and any `scheme://user:pass@` or
 * `password=` in `text`. For error messages we print: a driver may echo what it was given.
 */
export function redactText(text: string, url?: string): string {
  let result = text;
  for (const secret of secretsOf(url)) result = result.split(secret).join('***');
  return result
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s/]*@/gi, '$1***@')
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi, '$1***');
}

function secretsOf(url: string | undefined): string[] {
  if (url === undefined) return [];
  try {
    const parsed = new URL(url);
    const raw = [parsed.password, parsed.searchParams.get('password') ?? ''];
    const decoded = raw.map((value) => {
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    });
    // Longest first, so a secret containing another one is masked whole.
    return [...new Set([...raw, ...decoded])]
      .filter((s) => s.length >= 3)
      .sort((a, b) => b.length - a.length);
  } catch {
    return [];
  }
}

/** The message of anything thrown, redacted, on one line. */
export function describeError(error: unknown, url?: string): string {
  const message =
    error instanceof Error
      ? `${error.message}${'code' in error && typeof error.code === 'string' ? ` (${error.code})` : ''}`
      : String(error);
  return redactText(message.replace(/\s+/g, ' ').trim(), url);
}

/** Tallies error messages, for a "what went wrong, how often" summary. */
export class ErrorTally {
  readonly #counts = new Map<string, number>();
  readonly #url: string | undefined;
  #total = 0;

  constructor(url?: string) {
    this.#url = url;
  }

  get total(): number {
    return this.#total;
  }

  add(error: unknown): void {
    this.#total++;
    const key = describeError(error, this.#url);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** The most frequent messages first. */
  top(limit = 5): { message: string; count: number }[] {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([message, count]) => ({ message, count }));
  }
}
