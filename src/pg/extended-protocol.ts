/**
 * Whether pg sends a query with the extended protocol (Parse/Bind/Execute) rather than as one
 * simple Query message, decided as pg decides it (lib/query.js `requiresPreparation`, after
 * lib/utils.js `normalizeQueryConfig`, where a truthy `values` argument replaces the config's).
 * Pipelining (pipeline/pipelinable.ts) and automatic prepared statements (prepared/send.ts)
 * both depend on it: only the simple protocol lets one text hold several statements, and only
 * the extended one can run under a named statement.
 */

/** The fields of a query config pg's choice reads. */
export interface ProtocolFields {
  name?: unknown;
  values?: unknown;
  queryMode?: unknown;
}

export function usesExtendedProtocol(config: ProtocolFields, values: unknown): boolean {
  const v = values || config.values;
  return (
    config.queryMode === 'extended' ||
    (typeof config.name === 'string' && config.name !== '') ||
    (Array.isArray(v) && v.length > 0)
  );
}
