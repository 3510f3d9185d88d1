/**
 * The core's internal entry: the building blocks that the layers above it (lifeguard/pg's
 * pipeline, probation and isolation queues, its query channels) share with the core Pool,
 * without being part of the public API in `index.ts`. Everything outside src/core imports the
 * core through `index.ts` or this file only (enforced by `no-restricted-imports` in
 * eslint.config.js), so the core's other files can be reorganised freely.
 */
export { namedChannel, poolChannels, type Channel } from './channels.js';
export { kMaxTimerMillis, monotonicClock, timerDelay, type Clock } from './clock.js';
export { FifoQueue } from './fifo-queue.js';
export { OverloadControl } from './overload.js';
export { PendingAcquire } from './pending-acquire.js';
export {
  WaitQueue,
  type WaitCounters,
  type WaitQueueEvents,
  type WaitQueueOptions,
  type Waiter,
} from './wait-queue.js';
