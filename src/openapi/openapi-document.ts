import { createRequire } from 'node:module';
import type { FastifyInstance, FastifySchema } from 'fastify';
import swagger from '@fastify/swagger';
import { CDN_CGI_PREFIX } from '../platform/http/error-handler.ts';
import { errorAnswers, otherAnswers, rawAnswers, type Answer, type RouteKind } from './openapi-responses.ts';

/** Where the document is served, under the v4 base path. */
export const OPENAPI_PATH = '/openapi.json';

const SCOPE = /^\/(accounts\/\{account_id\}|zones\/\{zone_id\})(?=\/)/;

/** Fastify's `/a/:id` and `/a/*` as @fastify/swagger writes them in the document: `/a/{id}` and `/a/{*}`. */
export const openApiPath = (fastifyUrl: string): string =>
  fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\/\*$/, '/{*}');

/** The key of `rawAnswers` for a route: its method and path after the base path, the scope as `…`. */
function rawKey(method: string, path: string, basePath: string): string {
  const rest = path.startsWith(`${basePath}/`) ? path.slice(basePath.length).replace(SCOPE, '…') : path;
  return `${method} ${rest}`;
}

/** One answer in the form Fastify route schemas take and @fastify/swagger turns into a response object. */
function responseEntry(answer: Answer): Record<string, unknown> {
  if ('empty' in answer) return { type: 'null', description: answer.description };
  const mediaType = 'mediaType' in answer ? answer.mediaType : 'application/json';
  return { description: answer.description, content: { [mediaType]: { schema: answer.schema } } };
}

function packageVersion(): string {
  // dist/openapi and src/openapi are both two levels below the package root.
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/**
 * The document with its paths sorted: the same document whatever order the capabilities register their
 * routes in (app.ts wires them in dependency order, which is not the order a reader looks for).
 */
function pathsInOrder<D extends { paths?: Record<string, unknown> }>(doc: D): D {
  if (!doc.paths) return doc;
  return { ...doc, paths: Object.fromEntries(Object.keys(doc.paths).sort().map((path) => [path, doc.paths![path]])) };
}

/**
 * Registers @fastify/swagger so that every route registered after it lands in an OpenAPI 3.1 document
 * built from its schemas, completed with what the schemas cannot say (error envelopes, raw replies,
 * credentials), and serves that document unauthenticated at `<basePath>/openapi.json`. Call it before
 * any route is registered.
 */
export async function registerOpenApi(app: FastifyInstance, opts: { basePath: string }): Promise<void> {
  const { basePath } = opts;
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'access-ca',
        version: packageVersion(),
        description: 'A self-hosted, Cloudflare-compatible authority for short-lived SSH certificates: the v4 API '
          + `under ${basePath} (Cloudflare's envelope and error codes) and cloudflared's ${CDN_CGI_PREFIX}/access endpoints.`,
      },
      components: {
        securitySchemes: {
          apiToken: { type: 'http', scheme: 'bearer', description: 'An API token (`access-ca token create`)' },
          authEmail: { type: 'apiKey', in: 'header', name: 'X-Auth-Email', description: 'A user\'s e-mail, with X-Auth-Key' },
          authKey: { type: 'apiKey', in: 'header', name: 'X-Auth-Key', description: 'A user\'s global API key, with X-Auth-Email' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const method = (Array.isArray(route.method) ? route.method[0] : route.method) as string;
      const kind: RouteKind = url.startsWith(`${basePath}/`) ? 'v4' : url.startsWith(`${CDN_CGI_PREFIX}/`) ? 'cdn-cgi' : 'other';
      const own = (schema ?? {}) as Record<string, unknown>;
      const answers: Record<string, unknown> = {};
      for (const [status, s] of Object.entries((own['response'] ?? {}) as Record<string, unknown>)) {
        answers[status] = Number(status) < 300 ? { ...(s as object), description: 'Success' } : s;
      }
      // An error status the route documents itself keeps its own answer (/readyz's 503).
      const declared = (own['response'] ?? {}) as object;
      const errorsOf = Object.entries(errorAnswers(method, own['body'] !== undefined, kind)).filter(([status]) => !(status in declared));
      const extra: Record<string, Answer> = {
        ...Object.fromEntries(errorsOf),
        // A route outside the API that declares its own answers (/healthz, /readyz) is documented by them.
        ...(kind === 'other' ? (own['response'] ? {} : otherAnswers) : rawAnswers[rawKey(method, openApiPath(url), basePath)]),
      };
      for (const [status, answer] of Object.entries(extra)) answers[status] = responseEntry(answer);
      return {
        schema: {
          ...own,
          response: answers,
          // Only the v4 API takes credentials: cloudflared's endpoints carry the identity token in the body.
          security: kind === 'v4' ? [{ apiToken: [] }, { authEmail: [], authKey: [] }] : [],
        } as FastifySchema,
        url,
      };
    },
  });

  let document: string | undefined;
  app.get(`${basePath}${OPENAPI_PATH}`, { schema: { hide: true } }, async (_request, reply) => {
    document ??= JSON.stringify(pathsInOrder(app.swagger() as { paths?: Record<string, unknown> }));
    return reply.type('application/json; charset=utf-8').send(document);
  });
}
