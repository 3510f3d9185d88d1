/**
 * Waiters are rejected from timers and I/O callbacks, whose stacks say nothing about who
 * called `acquire`. A stack captured inside a promise reaction makes V8 add the async
 * functions awaiting that promise ("at async handler"), so on failure the error's stack is
 * extended with them (pg's client does the same for query errors). It costs one derived
 * promise per acquire that waits (option `asyncStackTraces`); an idle resource is returned
 * directly.
 */
export function withCallerStack<T>(promise: Promise<T>): Promise<T> {
  return promise.then(undefined, extendWithCallerStack);
}

/**
 * Runs as the rejection reaction of the promise the caller awaits, so V8's async stack trace
 * for this frame includes the awaiting callers ("at async handler").
 */
function extendWithCallerStack(error: unknown): never {
  if (error instanceof Error) {
    const holder: { stack?: string } = {};
    Error.captureStackTrace(holder, extendWithCallerStack);
    const callers = holder.stack?.split('\n').slice(1).join('\n');
    if (callers) {
      error.stack = `${error.stack ?? String(error)}\n    --- acquire() called from ---\n${callers}`;
    }
  }
  throw error;
}

export function captureStack(): string {
  return new Error('Resource acquired here').stack ?? '';
}
