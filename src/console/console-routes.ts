import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../platform/http/errors.ts';
import { sendError } from '../platform/http/error-handler.ts';
import { loadConsoleBuild, type ConsoleAsset, type ConsoleBuild } from './console-assets.ts';

/** Where the console lives; everything else on the server is the API. */
export const CONSOLE_PATH = '/console';

/**
 * The console's policy: only its own files run, no inline script or style, nothing may frame it, and the
 * only place it talks to is this server. Trusted Types leaves no DOM sink that takes a string as markup.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** A path under /console/ that names a file (an extension in its last segment), not a page of the app. */
const looksLikeFile = (path: string): boolean => /\.[A-Za-z0-9]{1,8}$/.test(path) || path.startsWith('assets/');

function send(request: FastifyRequest, reply: FastifyReply, file: ConsoleAsset): FastifyReply {
  reply.header('etag', file.etag).header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.code(200).type(file.contentType).send(file.body);
}

/**
 * Serves the built console under /console/ from memory, every answer with the console's security headers:
 * `/console` redirects to `/console/`, a known file is sent, an unknown page path gets index.html (the app
 * routes in the browser), and an unknown file 404s. Without a build, every path says how to make one.
 */
export function registerConsole(app: FastifyInstance, deps: { dir: string; apiBase: string }): void {
  let build: ConsoleBuild | null | undefined;
  // Read at the first request, not at start-up: building the app performs no I/O.
  const current = (): ConsoleBuild | null => (build === undefined ? (build = loadConsoleBuild(deps.dir, deps.apiBase)) : build);

  app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
      return payload;
    });

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const path = (request.raw.url ?? '').split('?')[0] ?? '';
      if (path === CONSOLE_PATH) return reply.redirect(`${CONSOLE_PATH}/`, 308);
      const built = current();
      if (built === null) return sendError(reply, errors.notFound('the web console is not built: run `npm run build`'));
      // Only names the build holds are served: a request path never reaches the file system.
      const rest = path.slice(CONSOLE_PATH.length + 1);
      const file = built.files.get(rest);
      if (file) return send(request, reply, file);
      if (rest === '' || !looksLikeFile(rest)) return send(request, reply, built.index);
      return sendError(reply, errors.notFound('no such console file'));
    };
    // Not part of the API: kept out of its OpenAPI document.
    scope.get(CONSOLE_PATH, { schema: { hide: true } }, handler);
    scope.get(`${CONSOLE_PATH}/*`, { schema: { hide: true } }, handler);
  });
}
