/**
 * A small typed event emitter. The core cannot use `node:events` semantics as-is: an `error`
 * event with no listener must not throw (pg.Pool crashes processes that way), and a listener
 * that throws must never break the pool's bookkeeping. A throwing listener is reported to the
 * `error` listeners instead; if an `error` listener throws, that is swallowed.
 */
export type Listener<E> = (event: E) => void;

export class TypedEmitter<Events extends object> {
  // One slot per event name; undefined when nobody listens, so `emit` on the hot path is a
  // single property check.
  private readonly _listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this._listeners[event];
    // Copy on write, so that emit can iterate without guarding against mutation.
    this._listeners[event] = list === undefined ? [listener] : [...list, listener];
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (value) => {
      this.off(event, wrapper);
      listener(value);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this._listeners[event];
    if (list === undefined) return this;
    const rest = list.filter((l) => l !== listener);
    this._listeners[event] = rest.length === 0 ? undefined : rest;
    return this;
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this._listeners[event]?.length ?? 0;
  }

  /**
   * Listener arrays by event, `undefined` when nobody listens. Hot paths read this directly
   * (`this.listeners.acquire !== undefined`) to skip building event objects nobody receives.
   */
  protected get listeners(): { readonly [K in keyof Events]?: readonly Listener<Events[K]>[] } {
    return this._listeners;
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const list = this._listeners[event];
    if (list === undefined) return;
    for (const listener of list) {
      try {
        listener(value);
      } catch (error) {
        this.onListenerError(event, error);
      }
    }
  }

  /** Called when a listener throws. Subclasses route it to their error event. */
  protected onListenerError(_event: keyof Events, _error: unknown): void {}
}
