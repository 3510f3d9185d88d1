/**
 * `lifeguard`: the driver-agnostic pool. PostgreSQL lives at `lifeguard/pg`.
 */
import { poolChannels } from './core/internal.js';
import { queryChannels } from './pg/query-channels.js';

export * from './core/index.js';

/**
 * Every diagnostics channel name, for subscribers:
 * `diagnostics_channel.subscribe(channels.acquireEnd, fn)` (docs/channels.md). Each layer
 * names its own channels; this is the one catalogue of them all.
 */
export const channels = Object.freeze({ ...poolChannels, ...queryChannels });
