import { defineConfig } from 'vite';

// Plain Vite: Preact through the automatic JSX runtime, no plugin. The output is served by the
// gateway itself (src/http/web-app.ts) under a strict Content-Security-Policy, so nothing inline.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
