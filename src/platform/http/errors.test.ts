import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errors, statusForCode } from './errors.ts';
import type { FastifyRequest } from 'fastify';
import { toApiError } from './error-handler.ts';

describe('error catalog', () => {
  it('maps each situation to the contract\'s status and code', () => {
    const expected: [keyof typeof errors, number, number][] = [
      ['missingCredentials', 400, 9106], ['malformedAuthorization', 400, 6003], ['malformedAuthEmail', 400, 6003],
      ['malformedAuthKey', 400, 6003], ['unknownAuthKey', 403, 9103], ['invalidAccessToken', 403, 9109],
      ['missingPermission', 403, 9109], ['invalidApiToken', 401, 1000], ['authenticationError', 403, 10000],
      ['noRoute', 404, 7000], ['invalidApplicationId', 400, 12045], ['notFound', 404, 12135],
      ['caAlreadyExists', 409, 12131], ['idpAlreadyExists', 409, 12132], ['unsupportedMediaType', 415, 10415], ['internal', 500, 10001],
      ['shuttingDown', 503, 10503],
    ];
    for (const [name, status, code] of expected) {
      const e = (errors[name] as () => ReturnType<typeof errors.internal>)();
      assert.equal(e.status, status, name);
      assert.equal(e.code, code, name);
    }
    assert.equal(errors.invalidObjectIdentifier('/accounts/x').status, 400);
    assert.deepEqual(errors.invalidObjectIdentifier('/accounts/x').items.map((i) => i.code), [7003, 7000]);
    assert.equal(errors.invalidRequest('bad', '/name').status, 400);
    assert.equal(errors.bodyTooLarge(10).status, 413);
    assert.equal(errors.policyRefused('x').status, 403);
    assert.equal(errors.rateLimited(2).status, 429);
    assert.equal(statusForCode(6111), 400);
  });

  it('every 409 carries x-should-retry: false; a 429 carries a small retry-after', () => {
    assert.equal(errors.caAlreadyExists().headers['x-should-retry'], 'false');
    assert.equal(errors.rateLimited(1).headers['retry-after'], '1');
    assert.equal(errors.notFound().headers['x-should-retry'], undefined);
  });
});

describe('faults that are not ours', () => {
  const request = { routeOptions: {}, log: { error: () => {} } } as unknown as FastifyRequest;
  it('a foreign key that no longer holds (its object deleted meanwhile, on either store) is 404 12135; anything else unknown is 500 10001', () => {
    for (const code of ['23503', 'SQLITE_CONSTRAINT_FOREIGNKEY']) {
      const e = toApiError(Object.assign(new Error('violates foreign key constraint'), { code }), request);
      assert.deepEqual([e.status, e.code], [404, 12135], code);
      assert.doesNotMatch(e.detail ?? '', /constraint|foreign/, 'the store\'s wording stays in the log');
    }
    const other = toApiError(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }), request);
    assert.deepEqual([other.status, other.code], [500, 10001]);
  });
});
