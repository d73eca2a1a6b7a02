import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly result: Promise<CliResult>;
  /** Resolves once stdout or stderr so far matches, so a test acts at a known phase, not after a guess. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** What it wrote so far, stdout then stderr. */
  output(): string;
}

export interface CliOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** The CLI of another checkout (a copy made by the test); this one's by default. */
  readonly cliPath?: string;
}

/**
 * Starts the real CLI (`npm run load` runs the same file) as a child process with only the given
 * environment plus PATH, so nothing of the test runner's environment leaks in.
 */
export function startCli(args: readonly string[], env: Record<string, string>, options: CliOptions = {}): RunningCli {
  const child = spawn(process.execPath, [options.cliPath ?? CLI_PATH, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 120_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const waitFor = async (pattern: RegExp, timeoutMs = 60_000) => {
    for (const deadline = Date.now() + timeoutMs; !pattern.test(stdout + stderr); ) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`never printed ${pattern}:\n${stdout}${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, result, waitFor, output: () => stdout + stderr };
}

export function runCli(args: readonly string[], env: Record<string, string>, options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, env, options).result;
}

/** The environment `load` needs against a fake Export API and a test database. */
export function loaderEnv(exportUrl: string, databaseUrl: string): Record<string, string> {
  return {
    AMPLITUDE_API_KEY: 'test-api-key',
    AMPLITUDE_SECRET_KEY: 'test-secret-key',
    AMPLITUDE_EXPORT_URL: exportUrl,
    DATABASE_URL: databaseUrl,
  };
}

/** Runs `load` against a fake Export API and a test database, with fast retries. */
export function runLoad(
  exportUrl: string,
  databaseUrl: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runCli(['load', '--retry-delay-ms', '20', ...args], { ...loaderEnv(exportUrl, databaseUrl), ...env });
}
