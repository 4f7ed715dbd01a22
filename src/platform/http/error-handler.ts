import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errors } from './errors.ts';
import { failure } from './envelope.ts';
import { closingFlag } from './closing.ts';
import { classifyStoreFailure, isDanglingReference, isRetryableConflict, type StoreFailure } from '../db/db-errors.ts';

/** Where a request's store failure is reported: the server's store health (registerErrorHandling). */
export type StoreFailureSink = (failure: StoreFailure, cause: unknown) => void;
const STORE_FAILURES = Symbol('access-ca.storeFailures');

/** Sends an ApiError in the v4 envelope with its status and headers. */
export function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(error.status).type('application/json').send(failure(error.items));
}

/** One schema validation failure, in Ajv's shape (Fastify's validator; the CLI maps TypeBox's to it). */
export interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The JSON pointer of the field a validation issue is about (the unknown or missing one, when named). */
export function pointerOf(issue: ValidationIssue): string {
  const base = issue.instancePath ?? '';
  const extra = issue.params?.['additionalProperty'] ?? issue.params?.['missingProperty'];
  return typeof extra === 'string' ? `${base}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}` : base || '/';
}

/** What is wrong with the field, in words an operator can act on (the API's and the CLI's one wording). */
export function describe(issue: ValidationIssue): string {
  if (issue.keyword === 'additionalProperties') return 'unknown field';
  if (issue.keyword === 'required') return 'missing required field';
  // A Go duration's expression means nothing to most readers; an example does.
  if (issue.keyword === 'pattern' && String(issue.params?.['pattern'] ?? '').includes('(ns|us|µs|ms|s|m|h)')) return 'must be a duration like 3m or 1h30m';
  // The pattern itself helps nobody; the field's pointer says where to look.
  if (issue.keyword === 'pattern') return 'holds characters or a form that this field does not take';
  return issue.message ?? 'invalid value';
}

/** Maps a schema validation failure to the catalog: a bad app id is 12045, anything else 12130. */
function fromValidation(error: FastifyError): ApiError {
  const issue = (error.validation?.[0] ?? {}) as ValidationIssue;
  const context = error.validationContext;
  if (context === 'params') {
    if (issue.instancePath === '/app_id') return errors.invalidApplicationId();
    return errors.invalidRequest(`${(issue.instancePath ?? '').slice(1) || 'id'} is not a valid identifier`);
  }
  if (context === 'body') return errors.invalidRequest(describe(issue), pointerOf(issue));
  return errors.invalidRequest(`${context ?? 'request'}${issue.instancePath ?? ''}: ${describe(issue)}`);
}

/** Maps any thrown value to a safe ApiError; unknown faults become 500 10001 and are logged. */
export function toApiError(error: unknown, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  const fe = error as Partial<FastifyError>;
  if (fe.validation) return fromValidation(fe as FastifyError);
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.bodyTooLarge(request.routeOptions.bodyLimit ?? 0);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return errors.unsupportedMediaType();
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errors.invalidRequest('the body is not valid JSON');
    default:
      break;
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return errors.invalidRequest('malformed request');
  }
  // A write that names an object (a zone, an app, a policy) deleted by another request meanwhile, on any
  // node: what it refers to is gone, as it would have been had it arrived a moment later. Logged: a
  // missing check would look the same.
  if (isDanglingReference(error)) {
    request.log.warn({ err: error }, 'a write named an object deleted meanwhile');
    return errors.notFound('an object this request refers to was deleted meanwhile');
  }
  // A serialization failure or deadlock that the store's own retries did not get past: not an outage.
  if (isRetryableConflict(error)) {
    request.log.warn({ event: 'store.conflict', code: (error as { code?: string }).code }, 'a transaction kept conflicting with others');
    return errors.storeContended();
  }
  const failure = classifyStoreFailure(error);
  if (failure !== null) {
    // Told once per outage by the server's store health, not once per request (store-health.ts).
    const sink = (request.server as unknown as Record<symbol, StoreFailureSink | undefined> | undefined)?.[STORE_FAILURES];
    if (sink) sink(failure, error);
    else request.log.warn({ event: 'store.unavailable', class: failure }, 'the store is unavailable');
    return failure === 'timeout' ? errors.storeBusy() : errors.storeUnavailable();
  }
  request.log.error({ err: error }, 'unexpected fault');
  return errors.internal();
}

/** Where cloudflared's endpoints live: they answer `{status, message}`, not the v4 envelope. */
export const CDN_CGI_PREFIX = '/cdn-cgi';

/**
 * Fastify's own refusals before routing (a malformed percent-encoding, a path parameter over the length
 * limit) would otherwise answer in Fastify's shape; they get the contract's, like every other failure.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const message = tooLong ? 'an identifier in the path is too long' : 'the URL is not valid';
  if ((request.raw.url ?? '').startsWith(`${CDN_CGI_PREFIX}/`)) {
    return reply.code(400).type('application/json').send({ status: 400, message });
  }
  return sendError(reply, tooLong ? errors.invalidObjectIdentifier((request.raw.url ?? '').split('?')[0]!.slice(0, 200)) : errors.invalidRequest(message));
}

/**
 * Installs the one error handler and the not-found handler: every failure leaves in the envelope. Once
 * the server is closing, a request that still arrives (on a kept-alive connection) is refused with 503
 * in the contract's shape; Fastify's own would be `{"error": …, "statusCode": 503}` (the app is built with
 * `return503OnClosing: false` for that reason).
 */
export function registerErrorHandling(app: FastifyInstance, opts: { onStoreFailure?: StoreFailureSink } = {}): void {
  // On the root instance, before any plugin: every encapsulated context sees it.
  if (opts.onStoreFailure) app.decorate(STORE_FAILURES, opts.onStoreFailure);
  app.setErrorHandler((error, request, reply) => sendError(reply, toApiError(error, request)));
  app.setNotFoundHandler((_request, reply) => sendError(reply, errors.noRoute()));
  const closing = closingFlag(app);
  app.addHook('onRequest', (request, reply, done) => {
    // A route may answer for itself (the health checks: a load balancer reads their own shape).
    if (!closing() || (request.routeOptions.config as { answersWhileClosing?: boolean } | undefined)?.answersWhileClosing) return done();
    const error = errors.shuttingDown();
    if ((request.raw.url ?? '').startsWith(`${CDN_CGI_PREFIX}/`)) {
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return reply.code(503).type('application/json').send({ status: 503, message: error.message });
    }
    return sendError(reply, error);
  });
}
