import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  // Works both from the sources (tsx) and from the compiled dist/ tree.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('leadgate: cannot find the project root (package.json)');
    dir = parent;
  }
  return dir;
}

const root = findProjectRoot();

/** A path inside the installed project: migrations, shipped templates, the inbox page. */
export function projectPath(...segments: string[]): string {
  return path.join(root, ...segments);
}
