// `npm run typecheck` with its two projects checked side by side (one core each): the server's
// (src, adapters, test, bench, scripts) and the web inbox's. Fails when either has an error.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const check = (args) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [tsc, '--noEmit', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });

const results = await Promise.all([check([]), check(['-p', 'web'])]);
for (const { output } of results) process.stdout.write(output);
process.exit(results.some(({ code }) => code !== 0) ? 1 : 0);
