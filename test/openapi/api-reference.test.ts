import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/server-process.ts';
import { servedApiReference } from './served-api-reference.ts';
import { typeOf } from '../../src/openapi/api-reference.ts';

test('docs/api.md is the reference rendered from the OpenAPI document the server serves (npm run docs:api writes it)', async () => {
  const expected = await servedApiReference();
  const written = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
  assert.ok(expected.includes('## POST /client/v4/accounts/{account_id}/access/apps/{app_id}/ca'), 'the CA route is in the reference');
  assert.equal(written, expected, 'docs/api.md differs from the served document: run `npm run docs:api`');
});

test('schemas in a few words', () => {
  assert.equal(typeOf({ type: 'string', maxLength: 64 }), 'string ≤ 64');
  assert.equal(typeOf({ type: 'integer', minimum: 1, maximum: 100 }), 'integer 1–100');
  assert.equal(typeOf({ type: 'array', items: { type: 'string' } }), 'string[]');
  assert.equal(typeOf({ anyOf: [{ type: 'string' }, { type: 'integer' }] }), 'string | integer');
  assert.equal(typeOf({ enum: ['allow', 'deny'] }), '"allow" | "deny"');
});
