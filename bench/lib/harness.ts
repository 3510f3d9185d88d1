/**
 * Plumbing shared by benchmarks: machine facts for the results file, a `gc()` to call between
 * measurements, and writing bench/results/<name>-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release as osRelease, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  osRelease: string;
  totalMemoryBytes: number;
  /** 1, 5 and 15 minute load averages when the benchmark started: other work skews results. */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cpuCount: cpu.length,
    node: process.version,
    v8: process.versions.v8,
    platform: platform(),
    arch: arch(),
    osRelease: osRelease(),
    totalMemoryBytes: totalmem(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/**
 * `gc()`, so that each measurement starts with a clean heap instead of paying for the previous
 * one's garbage. Exposed at runtime if Node was not started with --expose-gc; undefined if even
 * that fails.
 */
export function exposeGc(): (() => void) | undefined {
  const exposed = globalThis.gc;
  if (typeof exposed === 'function') {
    return () => {
      void exposed();
    };
  }
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `report` as bench/results/<name>-<timestamp>.json; returns the file's path. */
export function writeResults(name: string, report: unknown): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = new URL('../results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}-${stamp}.json`, dir);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return fileURLToPath(file);
}

/** `raw`, the value of `--flag`, as a positive integer; throws a usage error otherwise. */
export function positiveInt(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`--${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The median of `values` (the mean of the middle two when their count is even). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
