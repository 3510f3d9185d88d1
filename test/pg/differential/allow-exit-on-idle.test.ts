/**
 * allowExitOnIdle, and exiting once idle clients are gone: whether a process that used the
 * pool and never ended it exits by itself, and what it printed first. Each implementation
 * runs in its own child process (fixtures/idle-exit.ts).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { databaseUrl } from '../helpers.js';
import { describeScenarios } from './run-scenarios.js';
import type { SubjectName } from './subjects.js';

const fixture = fileURLToPath(new URL('./fixtures/idle-exit.ts', import.meta.url));

/** Far more than starting tsx and one query take on a loaded machine. */
const kChildLimitMillis = 60_000;

interface ChildRun {
  readonly output: string[];
  readonly exit: number | 'still running';
}

function runChild(subject: SubjectName, allowExitOnIdle: boolean): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, subject], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      ALLOW_EXIT_ON_IDLE: allowExitOnIdle ? '1' : '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve) => {
    const output = (): string[] => stdout.split('\n').filter((line) => line !== '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ output: output(), exit: 'still running' });
    }, kChildLimitMillis);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ output: output(), exit: code ?? -1 });
    });
  });
}

describeScenarios('allowExitOnIdle', [
  {
    name: 'with allowExitOnIdle, the process exits while the client is idle',
    async run({ rec, subject }) {
      rec.step('child', await runChild(subject, true));
    },
  },
  {
    name: 'without it, the process exits once idleTimeoutMillis has removed the client',
    async run({ rec, subject }) {
      rec.step('child', await runChild(subject, false));
    },
  },
]);
