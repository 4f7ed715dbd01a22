import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { registerCdnCgiAccessRoutes } from './cdn-cgi-access-routes.ts';
import { registerErrorHandling } from '../platform/http/error-handler.ts';
import { createAuthFailureLimiter } from '../identity/auth-failure-limiter.ts';
import { systemClock } from '../platform/clock.ts';
import type { CertSignService } from './cert-sign-service.ts';

/** cloudflared's endpoints map a store failure as the v4 API does, in their own `{status, message}` shape. */
describe('cdn-cgi: store failures', () => {
  const fault = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code });

  async function serverFailingWith(error: unknown) {
    const app = Fastify({ logger: false });
    const heard: string[] = [];
    registerErrorHandling(app, { onStoreFailure: (kind) => heard.push(kind) });
    const throwing = async () => { throw error; };
    await registerCdnCgiAccessRoutes(app, {
      apps: { findByHost: throwing },
      idps: { listForAccount: throwing },
      certSign: { sign: throwing } as unknown as CertSignService,
      limiter: createAuthFailureLimiter(30, systemClock),
    });
    await app.ready();
    return { app, heard };
  }

  const cases: [string, unknown, string, string][] = [
    ['PostgreSQL shutting down', fault('terminating connection due to administrator command', '57P01'), 'shutting_down', '2'],
    ['connection refused', fault('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), 'unreachable', '2'],
    ['SQLite disk full', fault('database or disk is full', 'SQLITE_FULL'), 'disk_full', '2'],
    ['a read-only standby', fault('cannot execute INSERT in a read-only transaction', '25006'), 'read_only', '2'],
    ['the pool\'s timeout', fault('timeout exceeded when trying to connect'), 'timeout', '1'],
  ];
  for (const [name, error, kind, retryAfter] of cases) {
    it(`${name}: cert_sign and app answer 503 {status, message} with retry-after, in our words; the store health hears "${kind}"`, async () => {
      const { app, heard } = await serverFailingWith(error);
      try {
        const signed = await app.inject({ method: 'POST', url: '/cdn-cgi/access/cert_sign', payload: { public_key: 'ssh-ed25519 AAAA', jwt: 'x.y.z' } });
        const info = await app.inject({ method: 'GET', url: '/cdn-cgi/access/app?hostname=ssh.example.com' });
        for (const answer of [signed, info]) {
          assert.equal(answer.statusCode, 503);
          assert.equal(answer.headers['retry-after'], retryAfter);
          const body = answer.json() as { status: number; message: string };
          assert.deepEqual(Object.keys(body).sort(), ['message', 'status']);
          assert.equal(body.status, 503);
          assert.match(body.message, /^The store (is unavailable|did not answer in time); retry the request$/);
        }
        assert.deepEqual(heard, [kind, kind]);
      } finally {
        await app.close();
      }
    });
  }

  it('any other fault is still 500 "internal error", without the driver\'s text and without retry-after', async () => {
    const { app, heard } = await serverFailingWith(fault('no such column: secret_column', 'SQLITE_ERROR'));
    try {
      const answer = await app.inject({ method: 'GET', url: '/cdn-cgi/access/app?hostname=ssh.example.com' });
      assert.equal(answer.statusCode, 500);
      assert.deepEqual(answer.json(), { status: 500, message: 'internal error' });
      assert.equal(answer.headers['retry-after'], undefined);
      assert.deepEqual(heard, []);
    } finally {
      await app.close();
    }
  });
});
