import { acquireEndChannel, acquireStartChannel, type AcquireMessage } from './channels.js';
import type { Clock } from './clock.js';

/**
 * An acquire with its start published now and its end once it settles, on the acquire
 * channels (docs/channels.md). Only taken while somebody subscribes to one of them.
 */
export function tracedAcquire<T>(
  pool: object,
  name: string,
  now: Clock,
  acquire: () => Promise<T>,
): Promise<T> {
  const message: AcquireMessage<T> = { pool, name };
  const startedAt = now();
  if (acquireStartChannel.hasSubscribers) acquireStartChannel.publish(message);
  return acquire().then(
    (resource) => {
      message.resource = resource;
      message.waitedMillis = now() - startedAt;
      if (acquireEndChannel.hasSubscribers) acquireEndChannel.publish(message);
      return resource;
    },
    (error: unknown) => {
      message.waitedMillis = now() - startedAt;
      message.error = error;
      if (acquireEndChannel.hasSubscribers) acquireEndChannel.publish(message);
      throw error;
    },
  );
}
