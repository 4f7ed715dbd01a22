import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp } from '../helpers/test-app.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { CONSOLE_CSP } from '../../src/console/console-routes.ts';

// The console's routes are not API and are left out of the OpenAPI document (`hide`); the test apps'
// answer check does not skip hidden routes yet, so it is off in this file.
process.env['ACCESS_CA_VALIDATE_RESPONSES'] = '0';

/** A tiny stand-in build, so the serving rules are tested without running Vite. */
function fakeBuild(): string {
  const dir = testTempDir('console-build-');
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta name="access-ca-api-base" content="%ACCESS_CA_API_BASE%"><script type="module" src="/console/assets/app-1.js"></script>');
  writeFileSync(join(dir, 'assets', 'app-1.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'app-1.css'), 'body{}');
  return dir;
}

function assertSecurityHeaders(headers: Record<string, unknown>, what: string): void {
  assert.equal(headers['content-security-policy'], CONSOLE_CSP, `CSP on ${what}`);
  assert.equal(headers['x-content-type-options'], 'nosniff', what);
  assert.equal(headers['referrer-policy'], 'no-referrer', what);
  assert.equal(headers['x-frame-options'], 'DENY', what);
}

test('the console policy forbids inline script and style, framing, and other origins', () => {
  for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "object-src 'none'"]) {
    assert.ok(CONSOLE_CSP.split('; ').includes(directive), directive);
  }
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|\*/);
});

test('the console is served from memory under /console/ with its security headers on every answer', async (t) => {
  const app = await makeTestApp({ config: { consoleDir: fakeBuild(), basePath: '/client/v4' } });
  t.after(() => app.close());

  const bare = await app.call('GET', '/console');
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.location, '/console/');
  assertSecurityHeaders(bare.headers, '/console');

  const index = await app.call('GET', '/console/');
  assert.equal(index.status, 200);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.match(index.raw, /content="\/client\/v4"/, 'the page learns the API base from the server');
  assertSecurityHeaders(index.headers, '/console/');

  const script = await app.call('GET', '/console/assets/app-1.js');
  assert.equal(script.status, 200);
  assert.match(String(script.headers['content-type']), /^text\/javascript/);
  assert.match(String(script.headers['cache-control']), /immutable/);
  assertSecurityHeaders(script.headers, 'a script');

  const again = await app.call('GET', '/console/assets/app-1.js', { headers: { 'if-none-match': String(script.headers.etag) } });
  assert.equal(again.status, 304);
  assertSecurityHeaders(again.headers, 'a 304');

  // A page of the app (routed in the browser) gets index.html; an unknown file is a 404 envelope.
  const page = await app.call('GET', '/console/apps/123e4567-e89b-12d3-a456-426614174000/certificates');
  assert.equal(page.status, 200);
  assert.equal(page.raw, index.raw);
  const missing = await app.call('GET', '/console/assets/nope.js');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.success, false);
  assertSecurityHeaders(missing.headers, 'a 404');

  // Only the build's own names are served: nothing outside it, however the path is spelled.
  for (const path of ['/console/../package.json', '/console/%2e%2e/%2e%2e/package.json', '/console/assets/..%2f..%2fpackage.json', '/console/..%5c..%5cpackage.json']) {
    const r = await app.call('GET', path);
    assert.ok(!r.raw.includes('"devDependencies"'), path);
    if (r.status === 200) assert.equal(r.raw, index.raw, path);
  }

  const head = await app.call('HEAD', '/console/');
  assert.equal(head.status, 200);
  assertSecurityHeaders(head.headers, 'HEAD');
});

test('without a build every console path says to run npm run build', async (t) => {
  const app = await makeTestApp({ config: { consoleDir: testTempDir('console-empty-') } });
  t.after(() => app.close());
  const r = await app.call('GET', '/console/');
  assert.equal(r.status, 404);
  assert.equal(r.body.success, false);
  assert.match(r.body.errors[0].message, /npm run build/);
  assertSecurityHeaders(r.headers, 'the missing build');
});

test('the built console has no inline script or style', (t) => {
  const dir = new URL('../../dist/console-ui/', import.meta.url);
  if (!existsSync(new URL('index.html', dir))) {
    t.skip('the console is not built (npm run build)');
    return;
  }
  const html = readFileSync(new URL('index.html', dir), 'utf8');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'every script is a file');
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
});
