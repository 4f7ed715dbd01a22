import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import type { IdpRow } from './identity-providers-store.ts';

/**
 * The trial identity provider: a provider whose tokens access-ca signs itself, so a first try needs no
 * outside IdP. Its signing key is sealed in the store under the master key and is used only by the CLI on
 * the data directory (`access-ca login --trial`), never by an HTTP route: whoever can mint its tokens
 * already holds the store and its master key, and with them every CA key. The server verifies its tokens
 * like any provider's, by the public key in the row, unless it runs with `--no-trial-idp`.
 */

/** The trial provider's issuer in an account: a name under .invalid (RFC 2606), which no real provider can hold. */
export const TRIAL_ISSUER_HOST = 'trial.access-ca.invalid';
export const trialIssuer = (accountId: string): string => `https://${TRIAL_ISSUER_HOST}/${accountId}`;

/** The name the provider is shown and logged under. */
export const TRIAL_PROVIDER_NAME = 'trial (evaluation only)';

/** The label every certificate issued on a trial token carries in its key id (`label=trial-idp`). */
export const TRIAL_KEY_ID_LABEL = 'trial-idp';

/** How long a trial identity token lives: an hour, like a short sign-in; `login --trial` makes a new one. */
export const TRIAL_TOKEN_LIFETIME_S = 3600;

/** Associated data that binds a sealed trial key to its provider row. */
export const trialKeyAad = (idpId: string): string => `access-ca/identity_providers/trial_key/v1/${idpId}`;

export const isTrialProvider = (row: Pick<IdpRow, 'trial_key_sealed'>): boolean => row.trial_key_sealed !== null;

/** A new trial provider's row: a fresh P-256 key, the public half as its JWKS, the private half sealed. */
export function newTrialProviderRow(vault: Pick<KeyVault, 'seal'>, ids: { id: string; accountId: string; at: string }): IdpRow {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: ids.id, alg: 'ES256', use: 'sig' };
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    id: ids.id,
    account_id: ids.accountId,
    name: TRIAL_PROVIDER_NAME,
    issuer: trialIssuer(ids.accountId),
    jwks_url: null,
    jwks_json: JSON.stringify({ keys: [jwk] }),
    audiences: '[]',
    client_id: null,
    client_secret_sealed: null,
    scopes: 'openid email profile',
    email_claim: 'email',
    email_verified_required: 1,
    email_domains: '[]',
    max_token_lifetime: TRIAL_TOKEN_LIFETIME_S,
    trial_key_sealed: vault.seal(pkcs8, trialKeyAad(ids.id)),
    created_at: ids.at,
    updated_at: ids.at,
  };
}

/** A signed identity token of the trial provider for `email`, for the application whose aud tag is `audience`. */
export async function signTrialToken(
  row: IdpRow, vault: Pick<KeyVault, 'open'>, claims: { email: string; audience: string; nowS: number },
): Promise<{ jwt: string; expiresAt: number }> {
  if (row.trial_key_sealed === null) throw new Error('not a trial provider');
  const key = createPrivateKey({ key: vault.open(row.trial_key_sealed, trialKeyAad(row.id)), format: 'der', type: 'pkcs8' });
  // The key must still be the one the row publishes: a row edited by hand would sign tokens nobody verifies.
  const published = (JSON.parse(row.jwks_json ?? '{"keys":[]}') as { keys: { x?: string; y?: string }[] }).keys[0];
  const mine = createPublicKey(key).export({ format: 'jwk' });
  if (!published || published.x !== mine.x || published.y !== mine.y) throw new Error('the trial provider\'s key does not match the key it publishes');
  const expiresAt = claims.nowS + TRIAL_TOKEN_LIFETIME_S;
  const jwt = await new SignJWT({ email: claims.email, email_verified: true, name: claims.email })
    .setProtectedHeader({ alg: 'ES256', kid: row.id, typ: 'JWT' })
    .setIssuer(row.issuer)
    .setAudience(claims.audience)
    .setSubject(`trial:${claims.email.toLowerCase()}`)
    .setIssuedAt(claims.nowS)
    .setExpirationTime(expiresAt)
    .sign(key);
  return { jwt, expiresAt };
}
