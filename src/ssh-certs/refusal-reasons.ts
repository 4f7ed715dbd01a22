import { ApiError } from '../platform/http/errors.ts';
import type { CertRefusalReason } from '../observability/metrics.ts';
import { TokenRejected } from '../identity-providers/jwt-verifier.ts';
import { Refusal } from './token-app-lookup.ts';

/** The metrics' reason for a refused certificate, from the error that refused it (a fixed set). */
export function refusalReason(error: unknown): CertRefusalReason {
  if (error instanceof TokenRejected) return 'token_rejected';
  if (error instanceof Refusal) {
    if (error.status === 404) return 'app_unknown';
    if (error.status === 429) return 'rate_limited';
    if (error.status === 400) return 'invalid_request';
    return error.kind ?? 'identity_unverified';
  }
  if (error instanceof ApiError) {
    if (error.items[0]?.code === 12140) return error.detail?.includes('public key has been revoked') ? 'key_rejected' : 'certificate_policy';
    if (error.status === 404) return 'app_unknown';
    if (error.status === 429) return 'rate_limited';
    if (error.status === 400) return error.items[0]?.source?.pointer === '/public_key' ? 'key_rejected' : 'invalid_request';
    if (error.status < 500) return 'token_rejected';
  }
  return 'error';
}
