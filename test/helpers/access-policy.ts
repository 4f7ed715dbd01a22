import assert from 'node:assert/strict';
import { scoped, type TestApp } from './test-app.ts';

/** Gives an application an Access policy that allows everyone its providers vouch for (tests that are not about who). */
export async function allowEveryone(t: Pick<TestApp, 'call'>, accountId: string, appId: string, token: string, kind: 'account' | 'zone' = 'account'): Promise<string> {
  const r = await t.call('POST', scoped(kind, accountId, `/access/apps/${appId}/policies`), {
    token, body: { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] },
  });
  assert.equal(r.status, 201, r.raw);
  return r.body.result.id;
}
