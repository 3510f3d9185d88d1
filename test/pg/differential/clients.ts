/**
 * Custom `Client` classes that scenarios hand to the pool, as users do (pg-native, wrappers,
 * mocks). pg.Pool calls `connect(callback)`; a Client may support only that style.
 */
import pg from 'pg';

/** pg.Client's `connect` callback, as @types/pg declares it. */
type ConnectCallback = ((err: Error) => void) | ((err: null, client: pg.Client) => void);

function callBack(callback: ConnectCallback, err: Error | undefined): void {
  (callback as (err: Error | undefined) => void)(err);
}

/** Every connection attempt fails with `bad news`, in whichever style connect is called. */
export class FailingClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.Client> | void {
    const error = new Error('bad news');
    if (callback === undefined) return Promise.reject(error);
    process.nextTick(() => callBack(callback, error));
  }
}

/**
 * Connects only through a callback and returns nothing, like pg-native's Client. Called
 * without one, it throws at once, as such a client would on calling its missing callback.
 */
export class CallbackOnlyClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.Client> | void {
    if (callback === undefined) throw new TypeError('cb is not a function');
    super.connect((err: Error) => callBack(callback, err ?? undefined));
  }
}
