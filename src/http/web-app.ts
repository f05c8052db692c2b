import fs from 'node:fs';
import express, { type Express } from 'express';
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
export function serveWebApp(app: Express, dir = projectPath('web', 'dist')): void {
  const index = `${dir}/index.html`;
  app.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path !== '/' && !req.path.startsWith('/assets/') && !req.path.startsWith('/sounds/') && req.path !== '/favicon.svg') return next();
    res.setHeader('Content-Security-Policy', contentSecurityPolicy);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('X-Frame-Options', 'DENY');
    if (req.path === '/') {
      if (!fs.existsSync(index)) {
        res.status(503).type('text/plain').send('The inbox page is not built yet: run `npm run build:web`.');
        return;
      }
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index);
      return;
    }
    next();
  });
  // File names under assets/ carry a content hash: cache them for good.
  app.use('/assets', express.static(`${dir}/assets`, { immutable: true, maxAge: '365d', index: false, fallthrough: true }));
  app.use(express.static(dir, { index: false, fallthrough: true }));
}
