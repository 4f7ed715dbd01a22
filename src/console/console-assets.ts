import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One built file, held in memory: the console is a few hundred kilobytes. */
export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  etag: string;
  /** Vite names the files under `assets/` by their content hash, so they never change under one name. */
  immutable: boolean;
}

/** The built console: files by their path under `/console/`, and the page every route of the app loads. */
export interface ConsoleBuild {
  files: Map<string, ConsoleAsset>;
  index: ConsoleAsset;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

// Where `vite build` writes, seen from src/console (tsx) and from dist/console (the compiled server).
const CANDIDATES = ['../../dist/console-ui/', '../console-ui/'];

/** The build directory next to this module, or the first candidate when none is built yet (for the message). */
export function defaultConsoleDir(): string {
  const dirs = CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url)));
  return dirs.find((d) => existsSync(join(d, 'index.html'))) ?? dirs[0]!;
}

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function asset(body: Buffer, path: string): ConsoleAsset {
  return {
    body,
    contentType: TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    immutable: path.startsWith('assets/'),
  };
}

function walk(dir: string, root: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const info = statSync(full);
    if (info.isDirectory()) walk(full, root, out);
    else if (info.isFile()) out.push(relative(root, full).split(sep).join('/'));
  }
}

/**
 * Reads the whole build into memory, so no request path ever reaches the file system; the page learns the
 * API's base path from a meta tag (a script would need 'unsafe-inline'). Null when nothing is built.
 */
export function loadConsoleBuild(dir: string, apiBase: string): ConsoleBuild | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const paths: string[] = [];
  walk(dir, dir, paths);
  const files = new Map<string, ConsoleAsset>();
  for (const path of paths) {
    let body = readFileSync(join(dir, path));
    if (path === 'index.html') {
      body = Buffer.from(body.toString('utf8').replace('%ACCESS_CA_API_BASE%', escapeAttribute(apiBase)), 'utf8');
    }
    files.set(path, asset(body, path));
  }
  return { files, index: files.get('index.html')! };
}
