/**
 * Import rules checked by `npm run lint` (`depcruise src`): no cycles in src/. A cycle makes
 * the order in which modules initialise matter and hides which layer builds on which
 * (docs/architecture.md). The core's boundary is eslint's `no-restricted-imports`.
 *
 * @type {import('dependency-cruiser').IConfiguration}
 */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Modules in src/ import each other one way only: move the shared piece into a module ' +
        'both can import, or pass it in.',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` and type-only exports vanish at run time, but a cycle through them still
    // ties the two modules together for the reader and the type checker.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
