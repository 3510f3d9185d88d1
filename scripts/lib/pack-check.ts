/**
 * The package as users get it: `npm pack` from a clean copy of the work tree (prepack builds
 * dist/), the tarball linted by publint and attw, installed into a fresh project with `pg` only,
 * then imported, required, type-checked and run there. Shared by scripts/pack-check.ts (any Node
 * versions, from the registry's `node-<platform>-<arch>` packages) and
 * test/package/pack-install.pg.test.ts (the current Node). See docs/packaging.md.
 *
 * Every check returns a list of problems, empty when all is well, so the test can assert
 * `toEqual([])` and see them all in one diff.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Exports that each subpath must have, whatever else it has (a spot check of the real API). */
export const expectedExports: Readonly<Record<string, readonly string[]>> = {
  lifeguard: ['Pool', 'PoolError', 'OverloadedError', 'checkHealth'],
  'lifeguard/pg': ['Pool', 'PgConnectionLostError', 'PgQueryTimeoutError', 'PoolError'],
  'lifeguard/metrics': ['instrumentPrometheus', 'instrumentOpenTelemetry', 'MetricsError'],
  'lifeguard/health': ['healthHandler', 'expressHealth', 'fastifyHealth', 'fastifyHealthPlugin'],
  'lifeguard/dashboard': ['createDashboard', 'startDashboard', 'DashboardError'],
};

/** The optional peers of lifeguard/metrics, and the install hint each exporter must give. */
const optionalPeers = [
  { peer: 'prom-client', exporter: 'instrumentPrometheus', hint: 'npm install prom-client' },
  {
    peer: '@opentelemetry/api',
    exporter: 'instrumentOpenTelemetry',
    hint: 'npm install @opentelemetry/api',
  },
] as const;

/**
 * Type errors that the declarations are known to have and that we report rather than fail on.
 * None: every error fails the check, including a TS2307 in dist/metrics/*.d.ts for a missing
 * optional peer (those declarations spell out their own types for the peers' objects).
 */
export const knownTypeErrors: readonly RegExp[] = [];

interface RunOptions {
  cwd: string;
  timeout?: number;
  env?: NodeJS.ProcessEnv;
}

interface RunResult {
  stdout: string;
  stderr: string;
  /** 0 on success. */
  code: number;
}

/**
 * The environment for child npm and node processes: ours without the lower-case `npm_*`
 * variables that an enclosing `npm test` or `npm run` sets for its scripts (`npm_config_call`,
 * `npm_config_local_prefix`, `npm_lifecycle_*`, ...), which are about that npm's own command and
 * folder. The child npm reads the npmrc files itself; upper-case `NPM_CONFIG_*` that a user or CI
 * set (a registry mirror, say) are kept.
 */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('npm_')) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command; never throws for a non-zero exit (the caller reads `code`). */
async function run(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      cwd: options.cwd,
      env: options.env ?? childEnv(),
      timeout: options.timeout ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: unknown; message: string };
    if (failed.stdout === undefined) throw error; // could not start at all (ENOENT, ...)
    return {
      stdout: failed.stdout,
      stderr: `${failed.stderr ?? ''}${typeof failed.code === 'number' ? '' : `\n${failed.message}`}`,
      code: typeof failed.code === 'number' ? failed.code : 1,
    };
  }
}

/** Like run(), but a non-zero exit throws with the command's output. */
async function mustRun(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${options.cwd}) exited ${result.code}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** npm on PATH (the checks run on Linux and macOS; Windows would need `shell: true`). */
const npm = 'npm';

export interface Packed {
  /** The temporary folder that holds everything; remove it with cleanUp(). */
  readonly dir: string;
  readonly tarball: string;
  /** Bytes of the .tgz. */
  readonly size: number;
  /** Bytes of its contents. */
  readonly unpackedSize: number;
  /** Paths inside the package, sorted. */
  readonly files: readonly string[];
}

interface NpmPackJson {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

/**
 * `npm pack` as a clean clone would run it: the files git knows of (tracked, and new ones not
 * ignored; uncommitted edits included) are copied to a temporary folder without dist/, with
 * this repository's node_modules linked in for the build tools, and packed there, so prepack
 * builds dist/ from scratch. The repository's own dist/ is never touched (other tests use it).
 */
export async function pack(): Promise<Packed> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeguard-pack-'));
  const source = join(dir, 'source');
  const gitArgs = ['ls-files', '-z', '--cached', '--others', '--exclude-standard'];
  const listed = await mustRun('git', gitArgs, { cwd: repoRoot });
  for (const file of listed.stdout.split('\0')) {
    const from = join(repoRoot, file);
    if (file === '' || !existsSync(from)) continue; // deleted in the work tree
    mkdirSync(dirname(join(source, file)), { recursive: true });
    copyFileSync(from, join(source, file));
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(source, 'node_modules'), 'dir');
  const packed = await mustRun(npm, ['pack', '--json', '--pack-destination', dir], {
    cwd: source,
    timeout: 300_000,
  });
  // Only the JSON is on stdout; prepack's own output goes to stderr. Skip anything before it.
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as NpmPackJson[];
  if (info === undefined) throw new Error(`npm pack printed no result:\n${packed.stdout}`);
  return {
    dir,
    tarball: join(dir, info.filename),
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((file) => file.path).sort(),
  };
}

/** "lifeguard-0.1.0.tgz: 135.2 kB packed, 447.8 kB unpacked, 140 files". */
export function describePacked(packed: Packed): string {
  const kB = (bytes: number): string => `${(bytes / 1000).toFixed(1)} kB`;
  const name = packed.tarball.slice(packed.dir.length + 1);
  return `${name}: ${kB(packed.size)} packed, ${kB(packed.unpackedSize)} unpacked, ${packed.files.length} files`;
}

interface Manifest {
  exports: Record<string, string | Record<string, string>>;
  devDependencies: Record<string, string>;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** The importable subpaths of a manifest's `exports`, as specifiers: `lifeguard`, `lifeguard/pg`, ... */
export function subpathsOf(manifest: Manifest): string[] {
  return Object.keys(manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? 'lifeguard' : `lifeguard/${key.slice(2)}`));
}

/** What ships: the build's .js and .d.ts, the manifest, README, LICENSE and CHANGELOG. Nothing else. */
export function contentProblems(packed: Packed, manifest: Manifest): string[] {
  const problems: string[] = [];
  const shipped = new Set(packed.files);
  const allowed = /^(dist\/.+\.(js|d\.ts)|package\.json|README\.md|LICENSE|CHANGELOG\.md)$/;
  for (const file of packed.files) {
    if (!allowed.test(file)) problems.push(`ships ${file}, which users do not need`);
  }
  for (const required of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
    if (!shipped.has(required)) problems.push(`does not ship ${required}`);
  }
  for (const [key, target] of Object.entries(manifest.exports)) {
    const targets = typeof target === 'string' ? [target] : Object.values(target);
    for (const path of targets) {
      if (!shipped.has(path.replace(/^\.\//, ''))) {
        problems.push(`exports["${key}"] → ${path} is not shipped`);
      }
    }
  }
  return problems;
}

export interface Installed {
  readonly packed: Packed;
  /** The fresh project the tarball is installed in. */
  readonly project: string;
  /** The installed package's own package.json (the packed one). */
  readonly manifest: Manifest;
  readonly subpaths: readonly string[];
}

/**
 * A fresh project with the tarball and `pg` installed from the registry, plus `@types/pg` and
 * `@types/node` for the type checks: none of our devDependencies, no optional peers. The
 * versions are the ranges this repository develops against.
 */
export async function install(packed: Packed): Promise<Installed> {
  const project = join(packed.dir, 'project');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'lifeguard-pack-check', private: true, type: 'module' }, null, 2)}\n`,
  );
  const ours = readManifest(repoRoot).devDependencies;
  const wanted = ['pg', '@types/pg', '@types/node'].map(
    (name) => `${name}@${ours[name] ?? 'latest'}`,
  );
  await mustRun(npm, ['install', '--no-audit', '--no-fund', packed.tarball, ...wanted], {
    cwd: project,
    timeout: 300_000,
  });
  const manifest = readManifest(join(project, 'node_modules', 'lifeguard'));
  const subpaths = subpathsOf(manifest);
  writeProbes(project, subpaths);
  return { packed, project, manifest, subpaths };
}

/** Names of `roots` and everything they depend on, as installed in `project`. */
function dependencyClosure(project: string, roots: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    const manifestPath = join(project, 'node_modules', name, 'package.json');
    if (seen.has(name) || !existsSync(manifestPath)) continue;
    seen.add(name);
    const { dependencies = {} } = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    queue.push(...Object.keys(dependencies));
  }
  return seen;
}

/**
 * Our devDependencies that are installed in the project although neither `pg` nor the two type
 * packages need them (pg-pool, say, is ours and pg's): none may be.
 */
export function strayDependencies(installed: Installed): string[] {
  const needed = dependencyClosure(installed.project, ['pg', '@types/pg', '@types/node']);
  return Object.keys(readManifest(repoRoot).devDependencies)
    .filter((name) => !needed.has(name))
    .filter((name) => existsSync(join(installed.project, 'node_modules', name)))
    .map((name) => `${name} (our devDependency) was installed`);
}

/** Removes everything pack() and install() made. */
export function cleanUp(packed: Packed | undefined): void {
  if (packed !== undefined) rmSync(packed.dir, { recursive: true, force: true });
}

/** A runner for a tool installed in this repository's node_modules (publint, attw, tsc). */
function bin(name: string): string {
  return join(repoRoot, 'node_modules', '.bin', name);
}

export interface Linted {
  readonly problems: string[];
  /** What the tools printed, for the log. */
  readonly output: string;
}

/**
 * publint (with --strict: warnings count as errors; suggestions fail too) and Are the Types
 * Wrong on the tarball, with attw's strict profile: node10, node16 from CJS and from ESM, and
 * bundler, for every subpath.
 *
 * One rule is ignored, and only one: `cjs-resolves-to-esm` ("ESM (dynamic import only)" for
 * node16 from CJS). The package is ESM-only on purpose; `require()` of it works on every Node
 * we support (>= 20.19, through require(esm); the install test proves it on 20, 22 and 24), and
 * TypeScript models that under `module: nodenext` and `node20` (TS >= 5.8/5.9), which the type
 * check below uses for a .cts file. attw has no notion of require(esm) yet
 * (arethetypeswrong/arethetypeswrong.github.io#252), so it would flag every subpath. What it
 * warns of is still true where TypeScript models an older Node (`module: node16`/`node18` with
 * CJS output): there `import` from a CJS file is TS1479, and `await import()` is the way; the
 * docs (docs/packaging.md) say so.
 */
export async function lint(tarball: string): Promise<Linted> {
  const problems: string[] = [];
  const cwd = dirname(tarball);
  const publint = await run(bin('publint'), ['run', '--strict', tarball], { cwd });
  if (publint.code !== 0 || /^(Suggestions|Warnings|Errors):/m.test(publint.stdout)) {
    problems.push(`publint: ${publint.stdout}${publint.stderr}`);
  }
  const attw = await run(
    bin('attw'),
    [tarball, '--profile', 'strict', '--ignore-rules', 'cjs-resolves-to-esm', '--no-color'],
    { cwd },
  );
  if (attw.code !== 0) problems.push(`attw: ${attw.stdout}${attw.stderr}`);
  return {
    problems,
    output: `${publint.stdout}${publint.stderr}\n${attw.stdout}${attw.stderr}`,
  };
}

/**
 * TypeScript sources that use every subpath: a namespace import of each (so a subpath added
 * later is at least resolved and its declarations read) and real calls into the known ones, with
 * one deliberate type error that must be reported (so the types are not silently `any`).
 */
function esmSource(subpaths: readonly string[]): string {
  return `${subpaths.map((s, i) => `import * as subpath${i} from '${s}';`).join('\n')}
import { Pool as CorePool, PoolError, checkHealth } from 'lifeguard';
import { Pool, PgConnectionLostError } from 'lifeguard/pg';
import { instrumentPrometheus, instrumentOpenTelemetry, MetricsError } from 'lifeguard/metrics';
import { healthHandler, expressHealth, fastifyHealth } from 'lifeguard/health';
import { createDashboard, startDashboard } from 'lifeguard/dashboard';

export const namespaces = [${subpaths.map((_, i) => `subpath${i}`).join(', ')}];
const core = new CorePool({ create: async () => ({ n: 1 }), destroy: () => undefined }, { max: 1 });
export const n: Promise<number> = core.use((resource) => resource.n);
export const coreHealth = checkHealth(core, (resource) => resource.n === 1);
const pool = new Pool({ connectionString: 'postgres://localhost/app', max: 2 });
export const one: Promise<number | undefined> = pool
  .query<{ one: number }>('SELECT 1 AS one')
  .then((result) => result.rows[0]?.one);
export const moved: Promise<void> = pool.transaction(
  async (client) => {
    await client.query('UPDATE accounts SET balance = balance - 1 WHERE id = $1', [1]);
  },
  { isolationLevel: 'serializable', retries: 3 },
);
export const handlers = [healthHandler(pool), expressHealth(pool), fastifyHealth(pool)];
export const dashboard = createDashboard(pool);
export const standalone = startDashboard;
export const exporters = [instrumentPrometheus, instrumentOpenTelemetry];
export function explain(error: unknown): string {
  if (error instanceof MetricsError) return error.code;
  if (error instanceof PgConnectionLostError) return String(error.mayHaveRun);
  return error instanceof PoolError ? error.code : 'other';
}
// @ts-expect-error: max is a number; if this is not an error, the declarations were not read.
export const wrong = new Pool({ max: 'ten' });
`;
}

/** The same from a CommonJS file: `import` compiles to `require()` here (require(esm)). */
function cjsSource(subpaths: readonly string[]): string {
  return `${subpaths.map((s, i) => `import subpath${i} = require('${s}');`).join('\n')}
import { Pool as CorePool } from 'lifeguard';
import { Pool } from 'lifeguard/pg';

export const namespaces = [${subpaths.map((_, i) => `subpath${i}`).join(', ')}];
export const core = new CorePool({ create: async () => 1, destroy: () => undefined });
export const pool = new Pool({ connectionString: 'postgres://localhost/app' });
export const rows: Promise<unknown[]> = pool.query('SELECT 1').then((result) => result.rows);
`;
}

const typeConfigs = {
  /** Node's own resolution, with an ESM file and a CommonJS file. */
  nodenext: {
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
    files: ['check-esm.mts', 'check-cjs.cts'],
  },
  /** A bundler's (Vite, webpack, esbuild), ESM only. */
  bundler: {
    compilerOptions: { module: 'esnext', moduleResolution: 'bundler' },
    files: ['check-bundler.ts'],
  },
} as const;

/** The probes a Node runs: one ES module (import) and one CommonJS script (require()). */
function writeProbes(project: string, subpaths: readonly string[]): void {
  const list = JSON.stringify(subpaths);
  writeFileSync(
    join(project, 'probe.mjs'),
    `import { createRequire } from 'node:module';
const result = { node: process.version, exports: {}, answer: null, resolvable: {}, peers: {} };
for (const subpath of ${list}) result.exports[subpath] = Object.keys(await import(subpath)).sort();
const { Pool } = await import('lifeguard/pg');
const pool = new Pool({ connectionString: process.env.LIFEGUARD_PACK_DATABASE_URL, max: 1 });
try {
  result.answer = (await pool.query('SELECT $1::int + 1 AS answer', [41])).rows[0].answer;
} finally {
  await pool.end();
}
const require = createRequire(import.meta.url);
for (const peer of ${JSON.stringify(optionalPeers.map((p) => p.peer))}) {
  try { require.resolve(peer); result.resolvable[peer] = true; } catch { result.resolvable[peer] = false; }
}
const metrics = await import('lifeguard/metrics');
const { Pool: CorePool } = await import('lifeguard');
const core = new CorePool({ create: async () => ({}), destroy() {} }, { name: 'pack-check' });
for (const exporter of ${JSON.stringify(optionalPeers.map((p) => p.exporter))}) {
  try {
    metrics[exporter](core).close();
    result.peers[exporter] = { code: 'none', message: '' };
  } catch (error) {
    result.peers[exporter] = { code: error.code, message: error.message, isMetricsError: error instanceof metrics.MetricsError };
  }
}
await core.end();
console.log(JSON.stringify(result));
`,
  );
  writeFileSync(
    join(project, 'probe.cjs'),
    `const result = { exports: {}, answer: null };
for (const subpath of ${list}) result.exports[subpath] = Object.keys(require(subpath)).sort();
const { Pool } = require('lifeguard/pg');
const pool = new Pool({ connectionString: process.env.LIFEGUARD_PACK_DATABASE_URL, max: 1 });
pool
  .query('SELECT $1::int + 1 AS answer', [41])
  .then(({ rows }) => { result.answer = rows[0].answer; })
  .finally(() => pool.end())
  .then(() => console.log(JSON.stringify(result)), (error) => { console.error(error); process.exitCode = 1; });
`,
  );
  writeFileSync(join(project, 'check-esm.mts'), esmSource(subpaths));
  writeFileSync(join(project, 'check-bundler.ts'), esmSource(subpaths));
  writeFileSync(join(project, 'check-cjs.cts'), cjsSource(subpaths));
  for (const [name, config] of Object.entries(typeConfigs)) {
    const compilerOptions = {
      ...config.compilerOptions,
      target: 'es2022',
      strict: true,
      noEmit: true,
      // Declarations are checked too: a broken .d.ts of ours must fail here.
      skipLibCheck: false,
    };
    writeFileSync(
      join(project, `tsconfig.${name}.json`),
      `${JSON.stringify({ compilerOptions, files: config.files }, null, 2)}\n`,
    );
  }
}

export interface TypeChecked {
  readonly config: string;
  /** Errors outside knownTypeErrors. */
  readonly problems: string[];
  /** Errors in knownTypeErrors (reported, not failed on). */
  readonly known: string[];
}

/** Type-checks the project's sources with this repository's TypeScript, per configuration. */
export async function typeCheck(installed: Installed): Promise<TypeChecked[]> {
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  return Promise.all(
    Object.keys(typeConfigs).map(async (config) => {
      const result = await run(
        process.execPath,
        [tsc, '-p', `tsconfig.${config}.json`, '--pretty', 'false'],
        {
          cwd: installed.project,
        },
      );
      const errors = `${result.stdout}${result.stderr}`
        .split('\n')
        .filter((line) => line.trim() !== '');
      const known = errors.filter((line) => knownTypeErrors.some((pattern) => pattern.test(line)));
      const problems = errors.filter((line) => !known.includes(line));
      if (result.code !== 0 && errors.length === 0) problems.push(`tsc exited ${result.code}`);
      return { config, problems: problems.map((line) => `${config}: ${line}`), known };
    }),
  );
}

interface EsmProbe {
  node: string;
  exports: Record<string, string[]>;
  answer: number | null;
  resolvable: Record<string, boolean>;
  peers: Record<string, { code: unknown; message: string; isMetricsError?: boolean }>;
}

interface CjsProbe {
  exports: Record<string, string[]>;
  answer: number | null;
}

export interface Probed {
  /** `process.version` of the Node that ran the probes. */
  readonly version: string;
  readonly problems: string[];
  /** Anything the probes wrote to stderr (warnings), for the log. */
  readonly stderr: string;
}

/**
 * Runs the probes with one Node binary: imports and require()s every subpath (the same names
 * either way, and the expected ones), one query through lifeguard/pg each way, and
 * lifeguard/metrics without its optional peers (it loads; each exporter throws
 * ERR_METRICS_PEER_MISSING naming the package to install).
 */
export async function probe(
  installed: Installed,
  node: string,
  databaseUrl: string,
): Promise<Probed> {
  const env = childEnv({ LIFEGUARD_PACK_DATABASE_URL: databaseUrl });
  const options = { cwd: installed.project, env, timeout: 60_000 };
  const [esmRun, cjsRun] = await Promise.all([
    run(node, ['probe.mjs'], options),
    run(node, ['probe.cjs'], options),
  ]);
  const problems: string[] = [];
  const parse = <T>(name: string, result: RunResult): T | undefined => {
    if (result.code === 0) {
      try {
        return JSON.parse(result.stdout) as T;
      } catch {
        // reported below
      }
    }
    problems.push(`${name} exited ${result.code}: ${result.stdout}${result.stderr}`);
    return undefined;
  };
  const esm = parse<EsmProbe>('probe.mjs (import)', esmRun);
  const cjs = parse<CjsProbe>('probe.cjs (require)', cjsRun);
  const version = esm?.node ?? (await run(node, ['--version'], options)).stdout.trim();
  for (const subpath of new Set([...installed.subpaths, ...Object.keys(expectedExports)])) {
    if (!installed.subpaths.includes(subpath)) {
      problems.push(`${subpath} is not in the package's exports`);
      continue;
    }
    const imported = esm?.exports[subpath];
    const required = cjs?.exports[subpath];
    if (esm !== undefined && (imported === undefined || imported.length === 0)) {
      problems.push(`import '${subpath}' gave no exports`);
    }
    if (cjs !== undefined && JSON.stringify(required) !== JSON.stringify(imported)) {
      problems.push(
        `require('${subpath}') gave ${String(required)}, import gave ${String(imported)}`,
      );
    }
    for (const name of expectedExports[subpath] ?? []) {
      if (imported !== undefined && !imported.includes(name))
        problems.push(`${subpath} lacks ${name}`);
    }
  }
  if (esm !== undefined && esm.answer !== 42)
    problems.push(`query via import answered ${esm.answer}`);
  if (cjs !== undefined && cjs.answer !== 42)
    problems.push(`query via require answered ${cjs.answer}`);
  for (const { peer, exporter, hint } of optionalPeers) {
    if (esm === undefined) break;
    if (esm.resolvable[peer] !== false)
      problems.push(`${peer} is installed: it must stay optional`);
    const failure = esm.peers[exporter];
    if (failure?.code !== 'ERR_METRICS_PEER_MISSING' || failure.isMetricsError !== true) {
      problems.push(`${exporter} without ${peer} gave ${JSON.stringify(failure)}`);
    } else if (!failure.message.includes(hint)) {
      problems.push(`${exporter} without ${peer} does not say "${hint}": ${failure.message}`);
    }
  }
  return {
    version,
    problems: problems.map((problem) => `node ${version}: ${problem}`),
    stderr: `${esmRun.stderr}${cjsRun.stderr}`.trim(),
  };
}

/** The registry package holding the Node binary for this machine, named as the `node` package's installer names it. */
function nodeBinaryPackage(): string {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const arch = platform === 'win' && process.arch === 'ia32' ? 'x86' : process.arch;
  const prefix = process.platform === 'darwin' && process.arch === 'arm64' ? 'node-bin' : 'node';
  return `${prefix}-${platform}-${arch}`;
}

/**
 * A Node binary of version `spec` (`22`, `20.19.0`, ...) installed into `into`, never onto the
 * machine. The `node` package on the registry is only an installer: its preinstall script runs
 * `npm install node-<platform>-<arch>@<version>` and links the binary. We install that platform
 * package directly, with install scripts off, which needs no script permission and picks the
 * newest release of the line (the platform packages are published more often than `node`).
 */
export async function installNode(spec: string, into: string): Promise<string> {
  const name = nodeBinaryPackage();
  const dir = join(into, `node-${spec}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "private": true }\n');
  await mustRun(
    npm,
    [
      'install',
      '--no-save',
      '--no-package-lock',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      `${name}@${spec}`,
    ],
    { cwd: dir, timeout: 600_000 },
  );
  const packageDir = join(dir, 'node_modules', name);
  const { bin: binaries } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    bin: { node: string };
  };
  const binary = join(packageDir, binaries.node);
  const version = (await mustRun(binary, ['--version'], { cwd: dir })).stdout.trim();
  if (version !== `v${spec}` && !version.startsWith(`v${spec}.`)) {
    throw new Error(`asked for Node ${spec}, ${name} gave ${version}`);
  }
  return binary;
}
