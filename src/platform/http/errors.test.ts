import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errors, statusForCode } from './errors.ts';
import type { FastifyRequest } from 'fastify';
import { toApiError } from './error-handler.ts';
import { StoreTimeoutError } from '../db/db-errors.ts';

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
  const request = { routeOptions: {}, log: { error: () => {}, warn: () => {} } } as unknown as FastifyRequest;
  const fault = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code });
  const answer = (e: unknown) => { const a = toApiError(e, request); return [a.status, a.code, a.headers['retry-after']]; };

  it('a write naming an object deleted meanwhile (either store) is 404 12135, in words of ours', () => {
    for (const e of [fault('insert or update on table "api_tokens" violates foreign key constraint "x"', '23503'), fault('FOREIGN KEY constraint failed', 'SQLITE_CONSTRAINT_FOREIGNKEY')]) {
      assert.deepEqual(answer(e), [404, 12135, undefined]);
      assert.doesNotMatch(toApiError(e, request).detail ?? '', /constraint|foreign/);
    }
  });

  it('deleting a row still referenced is not "deleted meanwhile": left to the route, else a logged 500', () => {
    assert.deepEqual(answer(fault('update or delete on table "access_policies" violates foreign key constraint "y"', '23503')), [500, 10001, undefined]);
  });

  it('a store that does not answer in time (a revision read, a connect) is 503 10503 with retry-after', () => {
    assert.deepEqual(answer(new StoreTimeoutError('slow')), [503, 10503, '1']);
    assert.deepEqual(answer(fault('timeout expired')), [503, 10503, '1'], 'a PostgreSQL connect past its bound');
  });

  it('anything else unknown is 500 10001', () => {
    assert.deepEqual(answer(fault('disk I/O error', 'SQLITE_IOERR')), [500, 10001, undefined]);
  });
});
