/**
 * The dashboard's open Server-Sent Events streams, one per browser: each gets the snapshot
 * when it connects, then one `sample` event per sampler tick, and is dropped when the browser
 * goes away, stops reading, or the dashboard closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { kCommonHeaders } from './responses.js';
import type { DashboardUpdate, Sampler } from './sampler.js';

/** The browser reconnects this long after losing the stream. */
const kRetryMillis = 2_000;
/**
 * A browser that stops reading (a suspended tab, a dead network path) is dropped once this much
 * is queued for it, rather than buffering without bound. Several minutes of updates.
 */
const kMaxBufferedBytes = 1 << 20;

export class EventStreams {
  readonly #sampler: Sampler;
  /** Open event streams, each with the function that ends it and unsubscribes it. */
  readonly #streams = new Map<ServerResponse, () => void>();

  constructor(sampler: Sampler) {
    this.#sampler = sampler;
  }

  /** Browsers currently connected. */
  get size(): number {
    return this.#streams.size;
  }

  /** Answers `req` with a stream that lasts until the browser or the dashboard ends it. */
  open(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      ...kCommonHeaders,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      // Proxies such as nginx buffer responses by default, which would hold the updates back.
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.socket?.setNoDelay(true);
    res.write(`retry: ${kRetryMillis}\n\n${frame('snapshot', this.#sampler.snapshot())}`);
    const unsubscribe = this.#sampler.subscribe((update: DashboardUpdate) => {
      if (res.writableLength > kMaxBufferedBytes) {
        drop();
        return;
      }
      res.write(frame('sample', update));
    });
    const drop = (): void => {
      if (!this.#streams.delete(res)) return;
      unsubscribe();
      res.off('close', drop);
      if (!res.writableEnded) res.end();
    };
    this.#streams.set(res, drop);
    // 'close' fires when the browser goes away (tab closed, navigation, network loss) and after
    // we end the response ourselves: either way the subscription goes with it.
    res.on('close', drop);
  }

  /** Ends every open stream. */
  closeAll(): void {
    for (const drop of [...this.#streams.values()]) drop();
  }
}

/** One SSE event. JSON never contains a raw line break, so `data` is always one line. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
