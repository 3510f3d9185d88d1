/**
 * Runs a factory hook (destroy, validate, reset) so that it can neither throw synchronously
 * nor hang: the result settles within `timeoutMillis` with either the hook's outcome or
 * `onTimeout()`. The timer is unref'd and cleared as soon as the hook settles.
 */
export function boundedCall<R>(
  hook: () => Promise<R> | R,
  timeoutMillis: number,
  onTimeout: () => Error,
): Promise<R> {
  let result: Promise<R> | R;
  try {
    result = hook();
  } catch (error) {
    return Promise.reject(error);
  }
  // A hook that answers synchronously needs no timer at all.
  if (!(result instanceof Promise)) return Promise.resolve(result);
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMillis);
    timer.unref();
    result.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
