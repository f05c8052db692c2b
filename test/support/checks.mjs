// The checks `npm test` runs before the tests, side by side: the compiler over the server's
// project (src, adapters, test, bench, scripts) and over the web inbox's, ESLint, the import
// boundaries (.dependency-cruiser.cjs), and that the page's API types (web/src/api-types.ts) are
// what the API says now. Prints what each found; fails when any did.
// `npm run lint` runs the last two alone.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The script of a package's command, as npm links it into node_modules/.bin (some packages do not export it). */
const bin = (pkg, name) => {
  const dir = new URL(`../../node_modules/${pkg}/`, import.meta.url);
  const { bin: bins } = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8'));
  return fileURLToPath(new URL(typeof bins === 'string' ? bins : bins[name], dir));
};
const eslintArgs = ['--cache', '--cache-strategy', 'content', '--cache-location', 'node_modules/.cache/eslint/', '.'];
// dependency-cruiser's cache asks git what changed: outside a git checkout (an unpacked archive)
// it would fail, so it runs without one there.
const depcruiseCache = existsSync(new URL('../../.git', import.meta.url)) ? ['--cache', 'node_modules/.cache/dependency-cruiser/'] : [];
const depcruiseArgs = ['--config', '.dependency-cruiser.cjs', ...depcruiseCache, '--output-type', 'err-long', 'src', 'adapters', 'web/src', 'test', 'bench', 'scripts'];

const tsc = bin('typescript', 'tsc');
const eslint = bin('eslint', 'eslint');
const depcruise = bin('dependency-cruiser', 'depcruise');

const run = (name, script, args, nodeArgs = []) =>
  new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => done({ name, code: code ?? 1, output, seconds: (Date.now() - started) / 1000 }));
  });

const lintOnly = process.argv.includes('--lint');
const checks = [
  ...(lintOnly
    ? []
    : [
        run('tsc', tsc, ['--noEmit']),
        run('tsc -p web', tsc, ['--noEmit', '-p', 'web']),
        run('api types', fileURLToPath(new URL('../../scripts/api-types.ts', import.meta.url)), ['--check'], ['--import', 'tsx']),
      ]),
  run('eslint', eslint, eslintArgs),
  run('depcruise', depcruise, depcruiseArgs),
];
const results = await Promise.all(checks);
for (const { name, code, output, seconds } of results) {
  process.stdout.write(output);
  console.log(`${code === 0 ? 'ok  ' : 'FAIL'} ${name} (${seconds.toFixed(1)} s)`);
}
process.exit(results.some(({ code }) => code !== 0) ? 1 : 0);
