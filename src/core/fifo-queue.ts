/**
 * An O(1) FIFO queue built from fixed ring buffers linked into a list (the shape of undici's
 * `fixed-queue.js`). The pool's waiters live here, so `push` and `shift` must never copy or
 * move elements the way `Array_shift` does.
 *
 *   head                                        tail
 *   [ ring of 2048 ] --next--> [ ring of 2048 ] --next--> null
 *     ^ shift() reads here        push() writes here ^
 *
 * Each ring is full when advancing `top` would reach `bottom`; `push` then links a fresh ring.
 * When the head ring empties and has a successor, the successor becomes the head. Vacated
 * slots are set to `undefined` so shifted items can be collected.
 */

const kSize = 2048;
const kMask = kSize - 1;

class Ring<T> {
  readonly list: (T | undefined)[] = new Array<T | undefined>(kSize);
  bottom = 0;
  top = 0;
  next: Ring<T> | null = null;

  isEmpty(): boolean {
    return this.top === this.bottom;
  }

  isFull(): boolean {
    return ((this.top + 1) & kMask) === this.bottom;
  }

  push(item: T): void {
    this.list[this.top] = item;
    this.top = (this.top + 1) & kMask;
  }

  shift(): T | undefined {
    const item = this.list[this.bottom];
    if (item === undefined) return undefined;
    this.list[this.bottom] = undefined;
    this.bottom = (this.bottom + 1) & kMask;
    return item;
  }

  peek(): T | undefined {
    return this.list[this.bottom];
  }
}

export class FifoQueue<T> {
  private _head: Ring<T> = new Ring<T>();
  private _tail: Ring<T> = this._head;
  private _length = 0;

  /** Items in the queue, including any the owner has flagged as cancelled but not yet shifted. */
  get length(): number {
    return this._length;
  }

  isEmpty(): boolean {
    return this._length === 0;
  }

  push(item: T): void {
    if (this._tail.isFull()) {
      this._tail = this._tail.next = new Ring<T>();
    }
    this._tail.push(item);
    this._length++;
  }

  shift(): T | undefined {
    const head = this._head;
    const item = head.shift();
    if (item === undefined) return undefined;
    this._length--;
    if (head.isEmpty() && head.next !== null) {
      this._head = head.next;
      head.next = null;
    }
    return item;
  }

  peek(): T | undefined {
    return this._head.peek();
  }

  /** Removes and yields every item, oldest first. Used by `end()`, never on the hot path. */
  *drain(): Generator<T> {
    for (let item = this.shift(); item !== undefined; item = this.shift()) yield item;
  }
}
