import { ReleaseError } from './errors.js';

/**
 * A checked-out resource that knows how to give itself back. Works with `await using`:
 *
 * @example
 * await using lease = await pool.lease();
 * await lease.resource.query('SELECT 1');
 * // released here, even if the query throws
 */
export class Lease<T> implements AsyncDisposable {
  private _released = false;
  private readonly _giveBack: (resource: T, error?: unknown) => void;

  constructor(
    readonly resource: T,
    giveBack: (resource: T, error?: unknown) => void,
  ) {
    this._giveBack = giveBack;
  }

  get released(): boolean {
    return this._released;
  }

  /** Returns the resource; with an error, it is destroyed instead. Throws when called twice. */
  release(error?: unknown): void {
    if (this._released) throw new ReleaseError('This lease was already released');
    this._released = true;
    this._giveBack(this.resource, error);
  }

  /** `await using` calls this; after an explicit `release()` it does nothing. */
  [Symbol.asyncDispose](): Promise<void> {
    if (!this._released) this.release();
    return Promise.resolve();
  }
}
