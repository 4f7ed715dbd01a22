import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errors, statusForCode } from './errors.ts';
import type { FastifyRequest } from 'fastify';
import { toApiError } from './error-handler.ts';
import { classifyStoreFailure } from '../db/db-errors.ts';
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

  it('every listed store failure, by driver code or message, is 503 10503 with retry-after and never the driver\'s text; the sink hears each with its class', () => {
    const table: [unknown, string][] = [
      [fault('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), 'unreachable'],
      [fault('read ECONNRESET', 'ECONNRESET'), 'unreachable'],
      [fault('write EPIPE', 'EPIPE'), 'unreachable'],
      [fault('Connection terminated unexpectedly'), 'unreachable'],
      [fault('Client has encountered a connection error and is not queryable'), 'unreachable'],
      [fault('connection failure during authentication', '08006'), 'unreachable'],
      [fault('terminating connection due to administrator command', '57P01'), 'shutting_down'],
      [fault('terminating connection because of crash of another server process', '57P02'), 'shutting_down'],
      [fault('the database system is starting up', '57P03'), 'shutting_down'],
      [fault('sorry, too many clients already', '53300'), 'overloaded'],
      [fault('could not extend file: No space left on device', '53100'), 'disk_full'],
      [fault('cannot execute INSERT in a read-only transaction', '25006'), 'read_only'],
      [fault('database or disk is full', 'SQLITE_FULL'), 'disk_full'],
      [fault('disk I/O error', 'SQLITE_IOERR'), 'io_error'],
      [fault('disk I/O error', 'SQLITE_IOERR_WRITE'), 'io_error'],
      [fault('attempt to write a readonly database', 'SQLITE_READONLY'), 'read_only'],
      [fault('database is locked', 'SQLITE_BUSY'), 'busy'],
      [fault('timeout exceeded when trying to connect'), 'timeout'],
      [new AggregateError([fault('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED'), fault('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')], 'x'), 'unreachable'],
    ];
    const heard: string[] = [];
    for (const [error, kind] of table) {
      assert.equal(classifyStoreFailure(error), kind, String(error));
      const a = toApiError(error, request);
      assert.deepEqual([a.status, a.code], [503, 10503], String(error));
      assert.ok(Number(a.headers['retry-after']) >= 1, 'retry-after');
      assert.doesNotMatch(a.message, /ECONN|5432|SQLITE|too many|administrator|No space/, 'never the driver\'s text');
      heard.push(kind);
    }
    assert.equal(heard.length, table.length);
    for (const other of [fault('syntax error at or near "x"', '42601'), fault('UNIQUE constraint failed', 'SQLITE_CONSTRAINT_UNIQUE'), fault('could not serialize access', '40001')]) {
      assert.equal(classifyStoreFailure(other), null, String(other));
    }
  });

  it('anything else unknown is 500 10001', () => {
    assert.deepEqual(answer(fault('no such column: x', 'SQLITE_ERROR')), [500, 10001, undefined]);
    assert.deepEqual(answer(fault('could not serialize access due to concurrent update', '40001')), [503, 10503, '1'], 'a conflict still there after the store\'s retries');
    assert.deepEqual(answer(fault('deadlock detected', '40P01')), [503, 10503, '1']);
  });
});
