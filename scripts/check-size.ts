/**
 * Lists the source files and functions that have grown past a screen (issue 11): files over
 * 400 lines, and functions, methods, accessors, constructors and arrow functions over 60.
 * A function's length runs from the line of its first token to the line of its last, its JSDoc
 * not included. A nested function counts on its own and also within its parent.
 *
 *   npx tsx scripts/check-size.ts                         # src/
 *   npx tsx scripts/check-size.ts src test                # more folders or files
 *   npx tsx scripts/check-size.ts --allow src/core/pool.ts,src/pg/pipeline.ts
 *   npx tsx scripts/check-size.ts --max-file 400 --max-function 60
 *
 * --allow takes comma-separated paths (or folder prefixes) whose offenders are reported but do
 * not fail the check; it can be given more than once. Exits 1 if any offender is not allowed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

import ts from 'typescript';

interface Offender {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  readonly lines: number;
  readonly limit: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    allow: { type: 'string', multiple: true, default: [] },
    'max-file': { type: 'string', default: '400' },
    'max-function': { type: 'string', default: '60' },
  },
});
const maxFile = Number(values['max-file']);
const maxFunction = Number(values['max-function']);
const allowed = values.allow.flatMap((list) =>
  list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== ''),
);
const roots = positionals.length > 0 ? positionals : ['src'];

function sourceFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return path.endsWith('.ts') ? [path] : [];
  return readdirSync(path)
    .sort()
    .flatMap((entry) => sourceFiles(join(path, entry)));
}

/**
 * A readable name for a function node: `Class.method` (`Class.#method` when private), a plain
 * name, the variable or property an arrow function is assigned to, or `<anonymous>`.
 */
function functionName(node: ts.FunctionLikeDeclaration): string {
  if (ts.isConstructorDeclaration(node)) return memberName(node, 'constructor');
  if (node.name !== undefined) return memberName(node, node.name.getText());
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return parent.name.getText();
  }
  if (ts.isPropertyDeclaration(parent)) return memberName(parent, parent.name.getText());
  return '<anonymous>';
}

/** `name` prefixed with its class, when `node` is a member of one. */
function memberName(node: ts.Node, name: string): string {
  if (!ts.isClassLike(node.parent)) return name;
  return `${node.parent.name?.getText() ?? '<class>'}.${name}`;
}

function functionOffenders(file: string, text: string): Offender[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Offender[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > maxFunction) {
        found.push({ file, line: first + 1, name: functionName(node), lines, limit: maxFunction });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function offendersOf(file: string): Offender[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  const own: Offender[] =
    lines > maxFile ? [{ file, line: 1, name: '(file)', lines, limit: maxFile }] : [];
  return [...own, ...functionOffenders(file, text)];
}

const isAllowed = (file: string): boolean =>
  allowed.some((entry) => file === entry || file.startsWith(entry.replace(/\/?$/, '/')));

const offenders = roots
  .flatMap(sourceFiles)
  .map((file) => relative(process.cwd(), file))
  .flatMap(offendersOf);
let failing = 0;
for (const offender of offenders) {
  const allow = isAllowed(offender.file);
  if (!allow) failing += 1;
  const where = `${offender.file}:${offender.line}`;
  const what = `${offender.name}: ${offender.lines} lines (limit ${offender.limit})`;
  console.log(`${allow ? 'allowed ' : ''}${where} ${what}`);
}
if (offenders.length === 0)
  console.log(`no file over ${maxFile} lines, no function over ${maxFunction}`);
process.exitCode = failing > 0 ? 1 : 0;
