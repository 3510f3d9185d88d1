/** Checks of pool options' values: a clear `InvalidOptionError` for each kind of bad input. */
import { InvalidOptionError } from '../core/index.js';

export function checkFunction(name: string, value: unknown, optional = false): void {
  if (optional && value === undefined) return;
  if (typeof value !== 'function') {
    throw new InvalidOptionError(name, `expected a function, got ${typeof value}`);
  }
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new InvalidOptionError(name, `expected a boolean, got ${typeof value}`);
  }
  return value;
}

export function checkNonNegative(name: string, value: unknown): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new InvalidOptionError(name, `expected a number >= 0, got ${String(value)}`);
  }
}
