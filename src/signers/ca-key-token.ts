import { errors } from '../platform/http/errors.ts';
import type { SshSigner } from '../openssh/ssh-signer.ts';
import { ECDSA_P256 } from '../openssh/ecdsa-p256.ts';

/** Where a CA's private key lives: sealed under the master key in the store, or inside a PKCS#11 token. */
export const KEY_STORAGES = ['sealed', 'pkcs11'] as const;
export type KeyStorage = (typeof KEY_STORAGES)[number];

/** Why a token cannot sign now. `reason` is safe to show anyone (no path, label or PIN); the log has the rest. */
export interface TokenProblem {
  kind: 'not_configured' | 'module' | 'token' | 'pin' | 'device';
  reason: string;
}

/** What the token says of a key's private half: the attributes that keep it inside. */
export interface TokenKeyAttributes {
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  sign: boolean;
  label: string;
}

/** Why a token signature failed, for the errors-by-kind metric. */
export const SIGNER_FAILURES = ['busy', 'unavailable', 'key_missing', 'error'] as const;
export type SignerFailure = (typeof SIGNER_FAILURES)[number];

/** What a token reports of its work: each signature's time in the token, and each failure by kind. */
export interface SignerObserver {
  signed(seconds: number): void;
  failed(kind: SignerFailure): void;
}

/** A store of CA keys that never leave it: P-256 pairs made inside, found by their object id (CKA_ID, hex). */
export interface CaKeyToken {
  /** Where its signatures' times and failures are reported from now on (the app's metrics). */
  observe(metrics: SignerObserver): void;
  /** Whether keys can be made and used now (tries to reconnect when a retry is due); null when they can. */
  check(): Promise<TokenProblem | null>;
  /** Makes a P-256 key pair inside the token, labelled `label`, with CKA_ID `objectId`; its OpenSSH public blob. */
  generateKey(label: string, objectId: Buffer): Promise<Buffer>;
  /** A signer over the private key with this object id; `publicKeyBlob` is the one the store holds. */
  signer(objectIdHex: string, publicKeyBlob: Buffer): SshSigner;
  /** The private key's protection attributes, as the token reports them. */
  keyAttributes(objectIdHex: string): Promise<TokenKeyAttributes>;
  /** Destroys both halves of the key pair; nothing when the token has none by that id. */
  destroyKey(objectIdHex: string): Promise<void>;
  close(): Promise<void>;
}

const NOT_CONFIGURED: TokenProblem = {
  kind: 'not_configured',
  reason: 'no PKCS#11 token is configured here (--pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file, or env ACCESS_CA_PKCS11_MODULE, ACCESS_CA_PKCS11_TOKEN_LABEL, ACCESS_CA_PKCS11_PIN_FILE)',
};

/**
 * The token of a server started without one. A key asked to be made in it (key_storage "pkcs11" on CA
 * create or rotate) is the request's to change, or the server's flags: a 400 naming both, not a 503 that
 * says to retry. Using a key some other node made in its token is the catalog's 503 saying why.
 */
export const noCaKeyToken: CaKeyToken = {
  observe: () => {},
  check: async () => NOT_CONFIGURED,
  generateKey: async () => {
    throw errors.invalidRequest(`key_storage "pkcs11" makes the key in a PKCS#11 token, and ${NOT_CONFIGURED.reason}: ask for "sealed", or configure a token`, '/key_storage');
  },
  signer: (_id, publicKeyBlob) => ({
    algorithm: ECDSA_P256,
    publicKeyBlob,
    sign: async () => { throw errors.caKeyUnavailable(NOT_CONFIGURED.reason); },
  }),
  keyAttributes: async () => { throw errors.caKeyUnavailable(NOT_CONFIGURED.reason); },
  destroyKey: async () => { throw errors.caKeyUnavailable(NOT_CONFIGURED.reason); },
  close: async () => {},
};
