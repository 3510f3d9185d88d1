/**
 * What the exporters' `instrument*` calls return: an idempotent stop, and the names of what
 * they instrument.
 */

/** An idempotent stop, also as `Symbol.dispose`. */
export interface Closable {
  close(): void;
  [Symbol.dispose](): void;
}

/** `stop`, made idempotent, as `close` and `Symbol.dispose`. */
export function closer(stop: () => void): Closable {
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    stop();
  };
  return { close, [Symbol.dispose]: close };
}

/** What instrumenting a ConnectionBudget returns. */
export interface BudgetInstrumentation extends Closable {
  /** The budget's name, as `budget_name` (Prometheus) or `lifeguard.budget.name` carries it. */
  readonly budgetName: string;
}

/** What instrumenting a router returns. */
export interface RouterInstrumentation extends Closable {
  readonly routerName: string;
  /** The name of the budget the members share, when they share one. */
  readonly budgetName: string | undefined;
}
