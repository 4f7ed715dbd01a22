import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifyInstance } from 'fastify';
import { openApiPath } from '../../src/openapi/openapi-document.ts';

/** One answer as the server sent it, with the route pattern Fastify matched. */
export interface Answer {
  method: string;
  /** Fastify's route pattern (`/client/v4/accounts/:account_id/…`), not the request's URL. */
  route: string;
  status: number;
  contentType: string | undefined;
  /** Undefined when the body was streamed and not read. */
  body: string | undefined;
}

interface ResponseObject {
  content?: Record<string, { schema?: unknown }>;
}

/**
 * Checks answers against an OpenAPI 3.1 document: the route and method are in it, the status is
 * documented for them, a body is sent only where one is documented, in a documented media type, and a
 * JSON body validates against its schema. Returns a sentence saying what is wrong, or null.
 */
export function createResponseChecker(document: { paths: Record<string, Record<string, { responses?: Record<string, ResponseObject> }>> }) {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; `format` values are descriptive here.
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const compiled = new Map<string, ValidateFunction>();

  return (answer: Answer): string | null => {
    const method = answer.method === 'HEAD' ? 'get' : answer.method.toLowerCase();
    const path = openApiPath(answer.route);
    const where = `${answer.method} ${path} → ${answer.status}`;
    const operation = document.paths[path]?.[method];
    if (!operation) return `${where}: the route is not in the OpenAPI document`;
    const responses = operation.responses ?? {};
    const statusKey = [String(answer.status), `${String(answer.status)[0]}XX`, 'default'].find((k) => responses[k] !== undefined);
    if (statusKey === undefined) return `${where}: the status is not documented for this route`;
    const content = responses[statusKey]!.content;
    if (answer.method === 'HEAD') return null;
    if (answer.body === undefined) return null;
    if (!content) return answer.body.length === 0 ? null : `${where}: a body was sent where none is documented`;
    const mediaType = (answer.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const documented = content[mediaType] ? mediaType : content['*/*'] ? '*/*' : undefined;
    if (documented === undefined) return `${where}: content type ${mediaType || '(none)'} is not documented (${Object.keys(content).join(', ')})`;
    if (mediaType !== 'application/json') return null;
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      return `${where}: the body is not JSON`;
    }
    const key = `${method} ${path} ${statusKey}`;
    let validate = compiled.get(key);
    if (!validate) compiled.set(key, (validate = ajv.compile(content[documented]!.schema as object)));
    if (validate(body)) return null;
    return `${where}: the body does not match the document: ${ajv.errorsText(validate.errors)} — body ${answer.body.slice(0, 300)}`;
  };
}

/** Whether test apps check every answer against the document: on unless ACCESS_CA_VALIDATE_RESPONSES=0. */
export const validatingResponses = (): boolean => process.env['ACCESS_CA_VALIDATE_RESPONSES'] !== '0';

/**
 * An onSend hook for a test app that checks each answer of a routed request against the app's own
 * OpenAPI document, and keeps what did not match: `take()` hands over (and forgets) the violations so
 * far. Requests no route matched (the not-found handler) and hidden routes are not the document's business.
 */
export function watchResponses() {
  const violations: string[] = [];
  let check: ReturnType<typeof createResponseChecker> | undefined;
  return {
    instrument(app: FastifyInstance): void {
      app.addHook('onSend', async (request, reply, payload) => {
        const route = request.routeOptions.url;
        // Routes outside the API may keep out of the document (`hide`); openapi.test.ts holds API routes to it.
        const hidden = (request.routeOptions.schema as { hide?: boolean } | undefined)?.hide === true;
        if (route === undefined || hidden) return payload;
        check ??= createResponseChecker(app.swagger() as Parameters<typeof createResponseChecker>[0]);
        const body = payload === null || payload === undefined ? '' : typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
        // A streamed body is not read here; its status and type still are.
        const contentType = reply.getHeader('content-type');
        const violation = check({ method: request.method, route, status: reply.statusCode, contentType: typeof contentType === 'string' ? contentType : undefined, body });
        if (violation) violations.push(violation);
        return payload;
      });
    },
    take(): string[] {
      return violations.splice(0);
    },
  };
}
