import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';
import { seedEmbeddedDatabase } from './stack.js';

const root = path.resolve(import.meta.dirname, '..', '..');

/**
 * The gateway's entry points as the processes run them: inside the suite, the JavaScript that
 * test/support/global-setup.ts compiled from src/ and adapters/ before the run (each process would
 * otherwise load tsx's loader and run every module through it, about a second of CPU per start);
 * elsewhere (a benchmark) the TypeScript sources through tsx, as `npm start` runs them.
 */
function entry(name: 'server' | 'worker'): string[] {
  const compiled = process.env.VITEST ? inject('compiledGateway') : undefined;
  return compiled ? [path.join(compiled, 'src', `${name}.js`)] : ['--import', 'tsx', `src/${name}.ts`];
}

/**
 * Every gateway this test process started and that has not exited. A test that times out never
 * reaches its own clean-up, and the test process then exits: the gateways go with it rather than
 * running on, holding ports and loading the machine.
 */
const running = new Set<ChildProcess>();
const killRunning = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.once('exit', killRunning);
// Vitest may end its workers with a signal, which skips 'exit': kill them, then die of it as before.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killRunning();
    process.kill(process.pid, signal);
  });
}

export interface GatewayProcess {
  baseUrl: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hooks, no flushing; what was committed is all that survives. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the gateway's server as its own process, as `npm start` does, on the given port. An
 * embedded database that does not exist yet starts as a copy of the migrated template.
 */
export async function spawnGateway(env: Record<string, string>, port: number, options: { startupMs?: number } = {}): Promise<GatewayProcess> {
  seedEmbeddedDatabase(env);
  // node itself, not the tsx CLI: the CLI runs the server in a child process that a SIGKILL
  // of the CLI would leave running.
  const child = spawn(process.execPath, entry('server'), {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const startupMs = options.startupMs ?? 60_000;
  const deadline = Date.now() + startupMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}:\n${output}`);
    const up = await fetch(`${baseUrl}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the gateway did not come up within ${startupMs / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    baseUrl,
    child,
    output: () => output,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hooks, no flushing; what was committed is all that survives. */
  kill(): Promise<void>;
}

/** Runs `src/worker.ts` as its own process, exactly as `npm run worker` does; resolves once it works. */
export async function spawnWorker(env: Record<string, string>, options: { startupMs?: number } = {}): Promise<WorkerProcess> {
  const startupMs = options.startupMs ?? 60_000;
  const child = spawn(process.execPath, entry('worker'), {
    cwd: root,
    // Info level: the worker says when it runs.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start within ${startupMs / 1000} s:\n${output}`)), startupMs);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('leadgate worker running')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    output: () => output,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}
