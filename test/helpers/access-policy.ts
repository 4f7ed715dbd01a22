import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from './test-app.ts';
import { makeTestIdp, type TestIdp } from './test-idp.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';

/** Gives an application an Access policy that allows everyone its providers vouch for (tests that are not about who). */
export async function allowEveryone(t: Pick<TestApp, 'call'>, accountId: string, appId: string, token: string, kind: 'account' | 'zone' = 'account'): Promise<string> {
  const r = await t.call('POST', scoped(kind, accountId, `/access/apps/${appId}/policies`), {
    token, body: { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] },
  });
  assert.equal(r.status, 201, r.raw);
  return r.body.result.id;
}

/** An account ready to issue certificates: an admin token, a provider with an inline JWKS, an app with a CA that lets everyone in. */
export interface SigningFixture {
  t: TestApp;
  tenant: Tenant;
  /** A token with every Access group and SSH Certificates Sign. */
  admin: string;
  idp: TestIdp;
  app: { id: string; aud: string };
  /** The account-form path of a route. */
  at(path: string): string;
  close(): Promise<void>;
}

export async function makeSigningFixture(issuer: string): Promise<SigningFixture> {
  const t = await makeTestApp();
  const tenant = await t.tenant();
  const admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [...PERMISSION_GROUPS] })).value;
  const idp = await makeTestIdp(issuer);
  const at = (path: string) => scoped('account', tenant.accountId, path);
  assert.equal((await t.call('POST', at('/access/identity_providers'), { token: admin, body: { name: 'p', config: { issuer: idp.issuer, jwks: idp.jwks } } })).status, 201);
  const app = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'app', domain: `app-${randomUUID()}.example.com` } })).body.result;
  assert.equal((await t.call('POST', at(`/access/apps/${app.id}/ca`), { token: admin })).status, 200);
  await allowEveryone(t, tenant.accountId, app.id, admin);
  return {
    t, tenant, admin, idp, app, at,
    async close() {
      await t.close();
      await idp.close();
    },
  };
}
