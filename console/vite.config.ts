import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// The console is served by the API server itself under /console/ with a strict CSP: no inline script or
// style may appear in what this writes, and every asset is a file of its own.
export default defineConfig({
  root: here('.'),
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/console-ui'),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    // The polyfill would be a script of its own; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
});
