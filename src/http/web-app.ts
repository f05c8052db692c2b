import fs from 'node:fs';
import path from 'node:path';
import express, { type Express, type Response } from 'express';
import { projectPath } from '../paths.js';

/**
 * Nothing but our own files: no inline script or style, no third-party origin, no framing. The
 * page renders messages as text, so even a hostile email cannot run anything.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The inbox page (built by `npm run build:web` into web/dist) at `/`. */
function secure(res: Response): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('X-Frame-Options', 'DENY');
}

/** The inbox page (built by `npm run build:web` into web/dist) at `/`, and its files. */
export function serveWebApp(app: Express, dir = projectPath('web', 'dist')): void {
  const index = path.join(dir, 'index.html');
  app.get('/', (_req, res) => {
    secure(res);
    if (!fs.existsSync(index)) {
      res.status(503).type('text/plain').send('The inbox page is not built yet: run `npm run build:web`.');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  // File names under assets/ carry a content hash: cache them for good.
  app.use('/assets', express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, setHeaders: secure }));
  app.get('/favicon.svg', (_req, res) => {
    secure(res);
    res.sendFile(path.join(dir, 'favicon.svg'));
  });
}
