/**
 * What a scenario's log is made of: named steps (a value the scenario looked at) and pool
 * events (in the order they were emitted, with their arguments). Plain data only, so that two
 * logs compare with `toEqual` and a difference prints as a readable diff.
 */
export interface StepObservation {
  readonly step: string;
  readonly value?: unknown;
}

export interface EventObservation {
  readonly event: string;
  readonly args: readonly unknown[];
}

export type Observation = StepObservation | EventObservation;

/** A step as it appears in a log (for writing the expected side of a deliberate difference). */
export function step(name: string, value?: unknown): StepObservation {
  return value === undefined ? { step: name } : { step: name, value };
}

/** An event as it appears in a log, its arguments already plain (labels, error shapes). */
export function event(name: string, ...args: unknown[]): EventObservation {
  return { event: name, args };
}
