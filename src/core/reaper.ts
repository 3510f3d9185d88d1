import type { PooledResource } from './pooled-resource.js';
import type { DestroyReason, LeaseInfo } from './types.js';

/**
 * The decisions of the pool's single background sweep, as pure functions over its records, so
 * that no release ever needs a timer of its own.
 */

/**
 * Picks the idle resources to close: past their lifetime, or idle longer than
 * `idleTimeoutMillis` while the pool holds more than `min`. `idle` is the idle stack, oldest at
 * the bottom, so the longest-idle go first. Returns the records to keep (the same array when
 * nothing goes) and those to retire, with why: the caller installs the kept ones before it
 * destroys any, so that listeners of the destroy see the counts without them.
 */
export function sweepIdle<T>(
  idle: PooledResource<T>[],
  now: number,
  surplus: number,
  idleTimeoutMillis: number,
): { kept: PooledResource<T>[]; retired: [PooledResource<T>, DestroyReason][] } {
  let kept: PooledResource<T>[] | undefined;
  const retired: [PooledResource<T>, DestroyReason][] = [];
  for (let i = 0; i < idle.length; i++) {
    const record = idle[i]!;
    let reason: DestroyReason | undefined;
    if (now >= record.expiresAt) reason = 'lifetime';
    else if (idleTimeoutMillis > 0 && surplus > 0 && now - record.lastUsedAt >= idleTimeoutMillis)
      reason = 'idle';
    if (reason === undefined) {
      kept?.push(record);
      continue;
    }
    kept ??= idle.slice(0, i);
    surplus--;
    retired.push([record, reason]);
  }
  return { kept: kept ?? idle, retired };
}

/**
 * The earliest time at which `sweepIdle` could retire one of `idle`: its lifetime, or its idle
 * timeout while the pool holds more than `min` (`hasSurplus`). Infinity when none ever will.
 * O(idle), for the idle timer only, which runs it when it fires, never per release.
 */
export function nextIdleDeadline<T>(
  idle: readonly PooledResource<T>[],
  hasSurplus: boolean,
  idleTimeoutMillis: number,
): number {
  let earliest = Infinity;
  for (let i = 0; i < idle.length; i++) {
    const deadline = idleDeadline(idle[i]!, hasSurplus, idleTimeoutMillis);
    if (deadline < earliest) earliest = deadline;
  }
  return earliest;
}

/** When `sweepIdle` could retire this idle record (see `nextIdleDeadline`). */
export function idleDeadline<T>(
  record: PooledResource<T>,
  hasSurplus: boolean,
  idleTimeoutMillis: number,
): number {
  const idleUntil =
    hasSurplus && idleTimeoutMillis > 0 ? record.lastUsedAt + idleTimeoutMillis : Infinity;
  return Math.min(record.expiresAt, idleUntil);
}

/**
 * Finds resources checked out longer than `leakDetectionMillis` and not reported yet; each is
 * reported once per checkout.
 */
export function findLeaks<T>(
  records: Iterable<PooledResource<T>>,
  now: number,
  leakDetectionMillis: number,
  report: (record: PooledResource<T>, heldMillis: number) => void,
): void {
  for (const record of records) {
    if (record.state !== 'busy' || record.leakReported) continue;
    const heldMillis = now - record.acquiredAt;
    if (heldMillis < leakDetectionMillis) continue;
    record.leakReported = true;
    report(record, heldMillis);
  }
}

/** Resources checked out for at least `limitMillis`, collected first so the caller may destroy them. */
export function findOverdue<T>(
  records: Iterable<PooledResource<T>>,
  now: number,
  limitMillis: number,
): PooledResource<T>[] {
  const overdue: PooledResource<T>[] = [];
  for (const record of records) {
    if (record.state === 'busy' && now - record.acquiredAt >= limitMillis) overdue.push(record);
  }
  return overdue;
}

/** The resources checked out now, longest-held first, for `Pool#leases()`. */
export function listLeases<T>(records: Iterable<PooledResource<T>>, now: number): LeaseInfo<T>[] {
  const result: LeaseInfo<T>[] = [];
  for (const record of records) {
    if (record.state !== 'busy') continue;
    result.push({
      resource: record.resource,
      heldMillis: now - record.acquiredAt,
      uses: record.uses,
      stack: record.acquireStack,
    });
  }
  return result.sort((a, b) => b.heldMillis - a.heldMillis);
}

/** Checked-out resources past their lifetime, to be retired when they come back. */
export function countExpired<T>(records: Iterable<PooledResource<T>>, now: number): number {
  let count = 0;
  for (const record of records) if (record.state === 'busy' && now >= record.expiresAt) count++;
  return count;
}
