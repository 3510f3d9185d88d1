/**
 * `lifeguard`: the driver-agnostic pool. PostgreSQL lives at `lifeguard/pg`.
 */
export * from './core/index.js';
