/**
 * `formatAdvice()`: the report as a person reads it, recommendation first, then how it was
 * reached, then the warnings. Prints only what the report holds, so it is credential-free too.
 */
import { round } from './advise-formulas.js';
import type { AdviceReport } from './advise-types.js';
import { formatSeconds } from './advise-warnings.js';

export function formatAdvice(report: AdviceReport): string {
  const { server, activity, formulas, recommendation, pool } = report;
  const lines: string[] = [
    `Lifeguard pool sizing for ${report.target.endpoint} (PostgreSQL ${server.version})`,
    '',
    `Recommended: max ${recommendation.max}, min ${recommendation.min} per instance`,
    `  basis: ${recommendation.basis}`,
    '',
    'Server',
    `  max_connections                 ${server.maxConnections}`,
    `  superuser_reserved_connections  ${server.superuserReservedConnections}`,
    `  reserved_connections            ${server.reservedConnections ?? 'n/a (before PostgreSQL 16)'}`,
    `  available                       ${server.available}`,
    `  connections now                 ${activity.connections} (headroom ${report.headroom})`,
    `  cores                           ${coresText(report)}`,
    '',
    'Sessions by application',
    ...activity.byApplication.map((app) => {
      const states = Object.entries(app.states)
        .map(([state, count]) => `${state} ${count}`)
        .join(', ');
      const oldest =
        app.oldestIdleInTransactionMillis === null
          ? ''
          : `; oldest idle in transaction ${formatSeconds(app.oldestIdleInTransactionMillis)}`;
      return `  ${app.applicationName === '' ? '(no name)' : app.applicationName}: ${app.total} (${states}${oldest})`;
    }),
    '',
    'Formulas',
    `  seed: floor(${server.available} / ${formulas.appInstances} × 0.8) in [2, ${server.available}] = ${formulas.seed}`,
    formulas.hikari === null
      ? '  HikariCP: cores × 2 + spindles: cores unknown'
      : `  HikariCP: ${server.cores.value} × 2 + ${formulas.spindles} = ${formulas.hikari} (${formulas.hikariPerInstance} per instance)`,
  ];
  const demand = formulas.demand;
  lines.push(
    demand === null
      ? "  Little's law: no measured load"
      : `  Little's law: ${round(demand.arrivalPerSecond)}/s × ${round(demand.holdMeanMillis)} ms = ` +
          `${round(demand.meanConnections)} busy (p99 hold ${round(demand.holdP99Millis)} ms: ${round(demand.p99Connections)})`,
  );
  if (pool !== null) {
    lines.push(
      '',
      `Pool ${pool.name}`,
      `  max ${pool.max}, min ${pool.min}; total ${pool.total}, in use ${pool.inUse}, waiting ${pool.waiting}`,
      `  ${pool.acquires} acquires${pool.windowMillis === null ? '' : ` in ${Math.round(pool.windowMillis)} ms`}` +
        `, ${pool.waitedAcquires} waited; ${pool.timeouts} timeouts, ${pool.shed} shed since start`,
    );
  }
  if (report.warnings.length > 0) {
    lines.push('', 'Warnings', ...report.warnings.map((w) => `  ! [${w.code}] ${w.message}`));
  }
  lines.push('', 'Notes', ...report.notes.map((note) => `  - ${note}`));
  return lines.join('\n') + '\n';
}

function coresText(report: AdviceReport): string {
  const { cores } = report.server;
  if (cores.value === null) return 'unknown';
  return cores.source === 'local'
    ? `${cores.value} (this machine; the server is local)`
    : `${cores.value}`;
}
