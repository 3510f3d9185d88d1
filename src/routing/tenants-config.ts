/** `createTenants`' config checked once, tenant keys checked per call, and pool names. */
import { createHash } from 'node:crypto';

import { ConnectionBudget } from '../core/index.js';
import { RoutingError } from './errors.js';
import type { PoolConfig } from '../pg/index.js';
import type { TenantSettings, TenantsConfig } from './tenants-types.js';

/** `<router>.<key>`, with anything but [A-Za-z0-9_-] replaced, and a hash when that changed it. */
export function poolName(router: string, key: string): string {
  const safe = key.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48);
  if (safe === key) return `${router}.${key}`;
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return `${router}.${safe}~${hash}`;
}

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') {
    throw new RoutingError(
      'ERR_ROUTING_UNKNOWN_ROUTE',
      `A tenant key must be a non-empty string, got ${typeof key === 'string' ? '""' : typeof key}`,
    );
  }
}

export function checked(config: TenantsConfig): TenantsConfig {
  const invalid = (message: string): RoutingError =>
    new RoutingError('ERR_ROUTING_INVALID_CONFIG', `createTenants(): ${message}`);
  if (typeof config !== 'object' || config === null) throw invalid('needs a config object');
  if (typeof config.resolve !== 'function') throw invalid('resolve must be a function');
  const { budget, perTenant, idleCloseMillis, overflow } = config;
  if (!(budget instanceof ConnectionBudget) && !(Number.isInteger(budget) && budget >= 1)) {
    throw invalid('budget must be a positive integer or a ConnectionBudget');
  }
  const max = perTenant?.max;
  const min = perTenant?.min;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) {
    throw invalid('perTenant.max must be a positive integer');
  }
  if (min !== undefined && !(Number.isInteger(min) && min >= 0 && min <= (max ?? min))) {
    throw invalid('perTenant.min must be an integer from 0 to perTenant.max');
  }
  if (idleCloseMillis !== undefined && !(idleCloseMillis > 0)) {
    throw invalid('idleCloseMillis must be a positive number of milliseconds');
  }
  if (overflow !== undefined && overflow !== 'wait' && overflow !== 'fail') {
    throw invalid("overflow must be 'wait' or 'fail'");
  }
  return config;
}

/**
 * The tenant's database, user and password in a pool config. pg lets a `connectionString`
 * override those fields, so when there is one they are written into it (URL form) instead.
 */
export function withTenantLogin(config: PoolConfig, settings: TenantSettings): PoolConfig {
  const { database, user, password } = settings;
  if (database === undefined && user === undefined && password === undefined) return config;
  const connectionString = config.connectionString;
  if (connectionString === undefined) {
    const login: PoolConfig = { ...config };
    if (database !== undefined) login.database = database;
    if (user !== undefined) login.user = user;
    if (password !== undefined) login.password = password;
    return login;
  }
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new RoutingError(
      'ERR_ROUTING_INVALID_CONFIG',
      'createTenants(): a tenant with its own database, user or password needs connectionString in URL form (postgres://...) or no connectionString',
    );
  }
  if (database !== undefined) url.pathname = `/${encodeURIComponent(database)}`;
  if (user !== undefined) url.username = encodeURIComponent(user);
  if (password !== undefined) url.password = encodeURIComponent(password);
  return { ...config, connectionString: url.toString() };
}
