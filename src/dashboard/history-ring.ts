/**
 * The last `capacity` samples, oldest first. A fixed array and a moving start index: pushing
 * never allocates once full, so a dashboard left open for days uses the memory of a few minutes.
 */
export class HistoryRing<T> {
  private readonly _items: T[] = [];
  private _start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`history capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this._items.length;
  }

  push(item: T): void {
    if (this._items.length < this.capacity) {
      this._items.push(item);
      return;
    }
    this._items[this._start] = item;
    this._start = (this._start + 1) % this.capacity;
  }

  /** The newest item, or undefined when empty. */
  last(): T | undefined {
    if (this._items.length === 0) return undefined;
    const index = (this._start + this._items.length - 1) % this._items.length;
    return this._items[index];
  }

  /** A copy, oldest first. */
  toArray(): T[] {
    return [...this._items.slice(this._start), ...this._items.slice(0, this._start)];
  }
}
