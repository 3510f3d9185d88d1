/**
 * Waiters are rejected from timers and I/O callbacks, whose stacks say nothing about who
 * called `acquire`. Awaiting inside an async function makes V8 record the awaiting callers
 * ("at async handler"), so on failure the error's stack is extended with them, as Kysely
 * does. Only the waiting path pays for this (option `asyncStackTraces`); an idle resource is
 * returned directly.
 */
export async function withCallerStack<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof Error) {
      const callers = new Error().stack?.split('\n').slice(1).join('\n');
      if (callers)
        error.stack = `${error.stack ?? String(error)}\n    --- acquire() called from ---\n${callers}`;
    }
    throw error;
  }
}

export function captureStack(): string {
  return new Error('Resource acquired here').stack ?? '';
}
