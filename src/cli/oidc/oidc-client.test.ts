import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explainOidcError } from './oidc-client.ts';
import { SignInExpired } from '../cli-config.ts';

describe('sign-in errors a person can act on', () => {
  it('names cancellation, unknown clients, dead grants, clocks and unreachable providers', () => {
    const say = (e: unknown) => explainOidcError(e, 'signing in').message;
    assert.match(say({ error: 'access_denied', error_description: 'End-User aborted interaction' }), /cancelled or consent was denied/);
    assert.match(say({ error: 'invalid_client', error_description: 'client authentication failed' }), /does not know this client id/);
    assert.ok(explainOidcError({ error: 'invalid_grant' }, 'refreshing') instanceof SignInExpired, 'a refused grant means: sign in again');
    assert.match(say({ message: 'x', cause: { message: 'unexpected JWT "iat" (issued at) claim value, it is in the future' } }), /check the clock/);
    assert.match(say({ message: 'x', cause: { message: 'unexpected JWT "aud" (audience) claim value' } }), /for another client/);
    assert.match(say({ message: 'x', cause: { message: 'unexpected JWT "iss" (issuer) claim value' } }), /from another issuer/);
    assert.match(say(new TypeError('fetch failed')), /cannot be reached/);
    assert.match(say({ error: 'expired_token' }), /code expired/);
  });
});
