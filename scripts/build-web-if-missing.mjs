// `npm start` on a checkout whose inbox page was never built (say, installed with --ignore-scripts)
// builds it first; an existing build is served as it is (`npm run build:web` rebuilds).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

if (!fs.existsSync(new URL('../web/dist/index.html', import.meta.url))) {
  execFileSync('npm', ['run', 'build:web'], { stdio: 'inherit' });
}
