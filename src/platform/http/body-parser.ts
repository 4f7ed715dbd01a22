import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { errors } from './errors.ts';
import { unsafeBodyText } from './body-text.ts';

/**
 * Replaces Fastify's JSON parser: the SDK's legacy core (≤ v6) sends `Content-Type: application/json`
 * with an empty body on POST and DELETE, which the default parser rejects.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  // JSON only: a text/plain body would otherwise reach validation as a string.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    let parsed: unknown;
    try {
      parsed = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch {
      done(errors.invalidRequest('the body is not valid JSON'), undefined);
      return;
    }
    // Text is checked at the edge, for every field of every route, before any schema or handler sees it.
    const unsafe = unsafeBodyText(parsed);
    done(unsafe ? errors.invalidRequest(unsafe.reason, unsafe.pointer) : null, unsafe ? undefined : parsed);
  });
}
