/**
 * lifeguard/pg's internal entry, for the layers built on it (src/routing): pieces they share
 * with the pg Pool without being public API. Everything outside src/pg imports it through
 * `index.ts` or this file only (enforced by `no-restricted-imports` in eslint.config.js).
 */
export { endCalledTwice, usedAfterEnd } from './callers.js';
export { callBackQuery, type QueryCallback } from './callbacks.js';
export { errnoOf, sqlStateOf } from './classify.js';
export { isSubmittable } from './submit.js';
export { forgetPreparedStatements } from './client-factory.js';
export { timeoutStatements } from './timeouts.js';
