import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { makeTestApp, scoped } from '../helpers/test-app.ts';
import { browserMissing, launchChromium, seriousAxeViolations } from '../helpers/browser.ts';
import { defaultConsoleDir } from '../../src/console/console-assets.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';

// The console's routes are left out of the OpenAPI document (`hide`); see console-browser.test.ts.
process.env['ACCESS_CA_VALIDATE_RESPONSES'] = '0';

/** What src/signers/ca-key-token.ts says when a server with no token is asked to make a key in one. */
const NO_TOKEN = /key_storage "pkcs11" makes the key in a PKCS#11 token, and no PKCS#11 token is configured here \(--pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file/;

/** Runs `click` and returns the POST it sends to a path ending in `pathEnd`, with the server's answer. */
async function postOf(page: Page, pathEnd: string, click: () => Promise<void>): Promise<{ request: Request; status: number; body: any }> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith(pathEnd)),
    click(),
  ]);
  return { request: response.request(), status: response.status(), body: await response.json() };
}

test('the console chooses where a CA key lives: the token on a server without one is refused beside the choice; the default is sealed', { timeout: 120_000 }, async (t) => {
  const missing = browserMissing();
  if (missing) return t.skip(missing);
  if (!existsSync(join(defaultConsoleDir(), 'index.html'))) return t.skip('the console is not built: run npm run build');

  // makeTestApp passes no PKCS#11 token: the server is one started without --pkcs11-*.
  const app = await makeTestApp();
  await app.app.listen({ host: '127.0.0.1', port: 0 });
  const origin = `http://127.0.0.1:${(app.app.server.address() as { port: number }).port}`;
  const tenant = await app.tenant();
  const admin = (await app.identity.createToken({ accountId: tenant.accountId, permissions: [...PERMISSION_GROUPS] })).value;
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${origin}${scoped('account', tenant.accountId, path)}`, {
      method, headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null,
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  const created = await api('POST', '/access/apps', { name: 'Vault bastion', domain: 'vault.example.com' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const appId = created.body.result.id as string;

  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await app.close();
  });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const axe = async (label: string) => assert.deepEqual(await seriousAxeViolations(page), [], `${label}: axe found serious or critical violations`);

  await page.goto(`${origin}/console/`);
  await page.getByLabel('API token').fill(admin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Applications' }).waitFor();
  await page.goto(`${origin}/console/apps/${appId}`);
  await page.getByRole('heading', { level: 1, name: 'Vault bastion' }).waitFor();

  // The CA panel: a group of two radio buttons, each with its hint; sealed is the default and checked.
  const caPanel = page.locator('section[aria-labelledby="ca-heading"]');
  const caChoice = page.getByRole('group', { name: 'Where the CA\'s private key lives' });
  const caSealed = caChoice.getByRole('radio', { name: 'Sealed in the store (default)' });
  const caToken = caChoice.getByRole('radio', { name: 'In the PKCS#11 token (HSM)' });
  assert.equal(await caSealed.isChecked(), true);
  assert.equal(await caToken.isChecked(), false);
  assert.equal(await caToken.getAttribute('aria-describedby'), 'ca-key-storage-pkcs11-hint');
  assert.match(await page.locator('#ca-key-storage-pkcs11-hint').innerText(), /made inside the server's PKCS#11 token and never leaves it/);
  await axe('the key storage choice');

  // The token, on a server without one: the server's 400 is shown inside the choice, not as a general failure, and no CA is made.
  await caToken.check();
  const refused = await postOf(page, `/access/apps/${appId}/ca`, () => page.getByRole('button', { name: 'Generate certificate authority' }).click());
  assert.deepEqual(refused.request.postDataJSON(), { key_storage: 'pkcs11' });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.errors[0].code, 12130);
  assert.equal(refused.body.errors[0].source.pointer, '/key_storage');
  const caError = caChoice.locator('#ca-key-storage-error');
  await caError.waitFor();
  assert.match(await caError.innerText(), NO_TOKEN);
  assert.equal(await caError.getAttribute('role'), 'alert');
  assert.equal(await caChoice.getAttribute('aria-describedby'), 'ca-key-storage-error');
  assert.equal(await caToken.getAttribute('aria-invalid'), 'true');
  assert.equal(await caPanel.locator('.error-note').count(), 0, 'no general failure note');
  assert.equal((await api('GET', `/access/apps/${appId}/ca`)).status, 404, 'no CA was made');
  await axe('the key storage refused');

  // Back to sealed: the message goes, and Generate sends the request it always has (no body), which makes a sealed CA.
  await caSealed.check();
  await caError.waitFor({ state: 'detached' });
  const made = await postOf(page, `/access/apps/${appId}/ca`, () => page.getByRole('button', { name: 'Generate certificate authority' }).click());
  assert.deepEqual(made.request.postDataJSON(), { key_storage: 'sealed' }, 'the choice is sent, whatever the server\'s default');
  assert.equal(made.status, 200);
  await page.getByLabel('CA public key').waitFor();
  assert.equal(await page.getByLabel('CA public key').inputValue(), (await api('GET', `/access/apps/${appId}/ca`)).body.result.public_key);
  assert.equal(await page.locator('#ca-key-lives').innerText(), 'Its private key is sealed in the store.');
  const keys = (await api('GET', `/access/apps/${appId}/ca/trusted_keys`)).body.result.keys as { state: string; key_storage: string }[];
  assert.deepEqual(keys.map((k) => [k.state, k.key_storage]), [['active', 'sealed']]);

  // Rotation: the next key's place defaults to the active key's; the token is refused beside the choice, and no next key is made.
  await page.getByRole('navigation', { name: 'Application sections' }).getByRole('link', { name: 'Issued certificates' }).click();
  const rotation = page.locator('section[aria-labelledby="rotation-heading"]');
  const keyRows = rotation.locator('table tbody tr');
  await keyRows.first().waitFor();
  // Each row's state and where its private key lives (the table's first and third cells).
  const listed = async () => (await keyRows.allInnerTexts()).map((r) => r.split('\t')).map((cells) => [cells[0], cells[2]]).sort();
  assert.deepEqual(await listed(), [['active', 'sealed in the store']]);
  const nextChoice = page.getByRole('group', { name: 'Where the next key lives' });
  assert.equal(await nextChoice.getByRole('radio', { name: 'Sealed in the store (default)' }).isChecked(), true);
  await nextChoice.getByRole('radio', { name: 'In the PKCS#11 token (HSM)' }).check();
  const notRotated = await postOf(page, `/access/apps/${appId}/ca/rotate`, () => page.getByRole('button', { name: 'Start a rotation' }).click());
  assert.deepEqual(notRotated.request.postDataJSON(), { key_storage: 'pkcs11' });
  assert.equal(notRotated.status, 400);
  const nextError = nextChoice.locator('#rotate-key-storage-error');
  await nextError.waitFor();
  assert.match(await nextError.innerText(), NO_TOKEN);
  assert.equal(await rotation.locator('.error-note').count(), 0, 'no general failure note');
  assert.equal((await api('GET', `/access/apps/${appId}/ca/trusted_keys`)).body.result.keys.length, 1, 'no next key was made');
  await axe('the rotation refused');

  // The default rotation sends no body, as before, and its next key is sealed too.
  await nextChoice.getByRole('radio', { name: 'Sealed in the store (default)' }).check();
  await nextError.waitFor({ state: 'detached' });
  const rotated = await postOf(page, `/access/apps/${appId}/ca/rotate`, () => page.getByRole('button', { name: 'Start a rotation' }).click());
  assert.deepEqual(rotated.request.postDataJSON(), { key_storage: 'sealed' }, 'the choice is sent, whatever the server\'s default');
  assert.equal(rotated.status, 200);
  await rotation.getByText('Start a rotation: done.').waitFor();
  await keyRows.nth(1).waitFor();
  assert.deepEqual(await listed(), [['active', 'sealed in the store'], ['next', 'sealed in the store']]);
  const after = (await api('GET', `/access/apps/${appId}/ca/trusted_keys`)).body.result.keys as { state: string; key_storage: string }[];
  assert.deepEqual(after.map((k) => [k.state, k.key_storage]).sort(), [['active', 'sealed'], ['next', 'sealed']]);
  assert.deepEqual(problems, []);
});
