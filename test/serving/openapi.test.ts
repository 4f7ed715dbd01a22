import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { RouteOptions } from 'fastify';
import { makeTestApp, scoped, type TestApp } from '../helpers/test-app.ts';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { openApiPath, OPENAPI_PATH } from '../../src/openapi/openapi-document.ts';
import { createResponseChecker } from './openapi-response-check.ts';

const newKey = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('OpenAPI 3.1 document at /client/v4/openapi.json', () => {
  let t: TestApp;
  const routes: { method: string; url: string; hidden: boolean }[] = [];
  let doc: any;

  before(async () => {
    t = await makeTestApp({
      instrument: (app) => app.addHook('onRoute', (r: RouteOptions) => {
        const hidden = (r.schema as { hide?: boolean } | undefined)?.hide === true;
        for (const method of [r.method].flat()) routes.push({ method, url: r.url, hidden });
      }),
    });
    const res = await t.call('GET', '/client/v4/openapi.json');
    assert.equal(res.status, 200, res.raw);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    doc = res.body;
  });
  after(() => t.close());

  it('is OpenAPI 3.1.0, served without credentials, describing credentials for the v4 API only', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'access-ca');
    assert.match(doc.info.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiToken', 'authEmail', 'authKey']);
    const apps = doc.paths['/client/v4/accounts/{account_id}/access/apps'].get;
    assert.deepEqual(apps.security, [{ apiToken: [] }, { authEmail: [], authKey: [] }]);
    assert.deepEqual(doc.paths['/cdn-cgi/access/cert_sign'].post.security, []);
  });

  it('holds every route Fastify registered, with its method', () => {
    const own = `/client/v4${OPENAPI_PATH}`;
    // A route may hide itself from the document only outside the API (the web console's pages).
    const api = (url: string) => url.startsWith('/client/v4/') || url.startsWith('/cdn-cgi/');
    assert.deepEqual(routes.filter((r) => r.hidden && api(r.url) && r.url !== own), []);
    const wanted = routes.filter((r) => r.method !== 'HEAD' && r.url !== own && !r.hidden);
    assert.ok(wanted.length > 40, `only ${wanted.length} routes seen`);
    const missing = wanted.filter((r) => doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()] === undefined);
    assert.deepEqual(missing, []);
    assert.ok(wanted.some((r) => r.url.startsWith('/cdn-cgi/')), 'the /cdn-cgi routes are among them');
  });

  it('documents the error envelope for every v4 status, cloudflared\'s {status, message} for /cdn-cgi, and raw replies by their type', () => {
    const create = doc.paths['/client/v4/accounts/{account_id}/access/apps'].post.responses;
    for (const status of ['201', '400', '401', '403', '404', '409', '413', '415', '429', '500']) assert.ok(create[status], `POST …/access/apps ${status}`);
    assert.deepEqual(create['404'].content['application/json'].schema.properties.success, { type: 'boolean', enum: [false] });
    const certSign = doc.paths['/cdn-cgi/access/cert_sign'].post.responses;
    assert.deepEqual(Object.keys(certSign['200'].content['application/json'].schema.properties).sort(), ['certificate', 'expires_at', 'id']);
    assert.deepEqual(certSign['401'].content['application/json'].schema.required, ['status', 'message']);
    const krl = doc.paths['/client/v4/accounts/{account_id}/access/apps/{app_id}/ca/krl'].get.responses;
    assert.deepEqual(Object.keys(krl['200'].content), ['application/octet-stream']);
    assert.equal(krl['304'].content, undefined);
    assert.ok(doc.paths['/client/v4/zones/{zone_id}/access/apps/{app_id}/ca/trusted_keys'].get.responses['304']);
  });

  it('the checker the test apps use refuses a body, a status or a type the document does not describe', () => {
    const check = createResponseChecker(doc);
    const route = '/client/v4/accounts/:account_id/access/apps/:app_id/ca';
    const ca = { id: 'x', aud: 'a', public_key: 'ecdsa-sha2-nistp256 AAAA' };
    const good = JSON.stringify({ success: true, errors: [], messages: [], result: ca });
    const caView = doc.paths[openApiPath(route)].get.responses['200'].content['application/json'].schema.properties.result;
    const body = JSON.stringify({ success: true, errors: [], messages: [], result: Object.fromEntries(Object.keys(caView.properties).map((k) => [k, 'v'])) });
    assert.equal(check({ method: 'GET', route, status: 200, contentType: 'application/json; charset=utf-8', body }), null);
    assert.match(check({ method: 'GET', route, status: 200, contentType: 'application/json', body: JSON.stringify({ success: true }) })!, /does not match the document/);
    assert.match(check({ method: 'GET', route, status: 418, contentType: 'application/json', body: good })!, /status is not documented/);
    assert.match(check({ method: 'GET', route, status: 200, contentType: 'text/html', body: good })!, /content type text\/html is not documented/);
    assert.match(check({ method: 'PATCH', route, status: 200, contentType: 'application/json', body: good })!, /route is not in the OpenAPI document/);
    const krl = '/client/v4/accounts/:account_id/access/apps/:app_id/ca/krl';
    assert.match(check({ method: 'GET', route: krl, status: 304, contentType: undefined, body: 'x' })!, /body was sent where none is documented/);
    const error = JSON.stringify({ success: false, errors: [{ code: 7003, message: 'm' }], messages: [], result: null });
    assert.equal(check({ method: 'GET', route, status: 400, contentType: 'application/json', body: error }), null);
    assert.match(check({ method: 'GET', route, status: 400, contentType: 'application/json', body: JSON.stringify({ success: false, errors: [], messages: [], result: null }) })!, /fewer than 1 items/);
  });

  it('respects the configured base path', async () => {
    const other = await makeTestApp({ config: { basePath: '/api/v4' } });
    try {
      const res = await other.call('GET', '/api/v4/openapi.json');
      assert.equal(res.status, 200);
      assert.ok(res.body.paths['/api/v4/accounts/{account_id}/access/apps']);
      assert.equal(res.body.paths['/client/v4/accounts/{account_id}/access/apps'], undefined);
      assert.equal((await other.call('GET', '/client/v4/openapi.json')).status, 404);
    } finally {
      await other.close();
    }
  });
});

// Every answer a test app gives is checked against the document (test-app.ts); this drives a broad set of
// routes, failures included, so that the check holds even where no other test goes.
describe('answers across the API match the OpenAPI document', () => {
  let f: SigningFixture;
  before(async () => {
    f = await makeSigningFixture('https://openapi.example');
  });
  after(() => f.close());

  it('successes, conditional replies and the error envelope of every kind', async () => {
    const { t, tenant, admin, idp, app, at } = f;
    const ca = at(`/access/apps/${app.id}/ca`);
    assert.equal((await t.call('PUT', `${ca}/policy`, { token: admin, body: { principals: { allow: ['deploy', 'openapi'] } } })).status, 200);
    const signed = await t.call('POST', `${ca}/sign`, { token: admin, body: { public_key: newKey(), principals: ['deploy'] } });
    assert.equal(signed.status, 200, signed.raw);
    const person = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: newKey(), jwt: await idp.sign({ aud: [app.aud], email: 'openapi@example.com' }) } });
    assert.equal(person.status, 200, person.raw);
    const expected: [string, string, { token?: string; body?: unknown; payload?: string; headers?: Record<string, string> }, number][] = [
      ['GET', ca, { token: tenant.read }, 200],
      ['POST', ca, { token: admin }, 409],
      ['GET', `${ca}/certificates`, { token: tenant.read }, 200],
      ['GET', `${ca}/certificates/${signed.body.result.id}`, { token: tenant.read }, 200],
      ['GET', `${ca}/policy`, { token: tenant.read }, 200],
      ['GET', `${ca}/trusted_keys`, { token: tenant.read }, 200],
      ['GET', `${ca}/krl`, { token: tenant.read }, 200],
      ['GET', at('/access/apps'), { token: tenant.read }, 200],
      ['GET', at(`/access/apps/${app.id}`), { token: tenant.read }, 200],
      ['GET', at('/access/policies'), { token: tenant.read }, 200],
      ['GET', at('/access/audit'), { token: tenant.read }, 200],
      ['GET', '/client/v4/user/tokens/verify', { token: tenant.read }, 200],
      ['GET', at('/access/apps'), {}, 400],
      ['GET', at('/access/apps'), { token: 'not-a-token-at-all' }, 403],
      ['GET', '/client/v4/user/tokens/verify', { token: 'x'.repeat(40) }, 401],
      ['POST', at('/access/apps'), { token: tenant.read, body: { name: 'n', domain: 'n.example.com' } }, 403],
      ['GET', at('/access/apps/00000000-0000-4000-8000-000000000000'), { token: tenant.read }, 404],
      ['GET', at('/access/apps/not-an-id'), { token: tenant.read }, 400],
      ['GET', scoped('account', 'nothex', '/access/apps'), { token: tenant.read }, 400],
      ['POST', at('/access/apps'), { token: admin, payload: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
      ['POST', at('/access/apps'), { token: admin, body: { name: 'x'.repeat(70_000) } }, 413],
      ['POST', at('/access/apps'), { token: admin, body: { nmae: 'x' } }, 400],
      ['POST', '/cdn-cgi/access/cert_sign', { body: { public_key: newKey() } }, 400],
      ['POST', '/cdn-cgi/access/cert_sign', { body: { public_key: newKey(), jwt: 'a.b.c' } }, 401],
      ['GET', `/cdn-cgi/access/app?hostname=${encodeURIComponent('nowhere.example.com')}`, {}, 404],
    ];
    for (const [method, path, opts, status] of expected) {
      const res = await t.call(method, path, opts);
      assert.equal(res.status, status, `${method} ${path}: ${res.raw.slice(0, 200)}`);
    }
    const krl = await t.call('GET', `${ca}/krl`, { token: tenant.read });
    const again = await t.call('GET', `${ca}/krl`, { token: tenant.read, headers: { 'if-none-match': String(krl.headers['etag']) } });
    assert.equal(again.status, 304);
  });
});
