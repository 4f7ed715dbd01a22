import type { KeyObject } from 'node:crypto';
import type { SshSigner } from './ssh-signer.ts';
import { assembleCertificate, encodeToBeSigned, parseCertificate, type Certificate, type CertificateBody } from './certificate.ts';
import { verifyP256 } from './ecdsa-signature.ts';

/** Why a certificate failed its own re-check; never expected, so it is a fault, not a user error. */
export class CertificateCheckError extends Error {
  override name = 'CertificateCheckError';
}

/** Encodes the body, signs it with the CA signer and returns the parsed certificate. */
export async function signCertificate(body: CertificateBody, signer: SshSigner): Promise<Certificate> {
  if (!body.signatureKey.equals(signer.publicKeyBlob)) throw new CertificateCheckError('signature key is not the signer\'s');
  const signed = encodeToBeSigned(body);
  const signature = await signer.sign(signed);
  return parseCertificate(assembleCertificate(signed, signature));
}

/**
 * Re-checks a signed certificate as sshd would before it leaves the server: the signature verifies
 * under the CA key and every field is what was asked for.
 */
export function verifyIssued(cert: Certificate, asked: CertificateBody, caPublicKey: KeyObject): void {
  if (!verifyP256(caPublicKey, cert.signed, cert.signature)) throw new CertificateCheckError('signature does not verify');
  const same =
    cert.keyType === asked.keyType && cert.keyFields.equals(asked.keyFields) && cert.serial === asked.serial &&
    cert.certType === asked.certType && cert.keyId === asked.keyId &&
    JSON.stringify(cert.principals) === JSON.stringify(asked.principals) &&
    cert.validAfter === asked.validAfter && cert.validBefore === asked.validBefore &&
    JSON.stringify(sortedEntries(cert.criticalOptions)) === JSON.stringify(sortedEntries(asked.criticalOptions)) &&
    JSON.stringify(sortedEntries(cert.extensions)) === JSON.stringify(sortedEntries(asked.extensions)) &&
    cert.signatureKey.equals(asked.signatureKey);
  if (!same) throw new CertificateCheckError('signed certificate differs from the request');
}

const sortedEntries = (o: Record<string, string>) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1));
