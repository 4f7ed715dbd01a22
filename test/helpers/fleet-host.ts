import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { signSshsig } from '../../src/openssh/sshsig.ts';
import { ENROLL_NAMESPACE } from '../../src/infrastructure/host-enrollment-service.ts';

/** A host key made in the test, with the SSHSIG proof enrollment asks of it. */
export interface TestHostKey {
  line: string;
  publicBlob: Buffer;
  privateKey: KeyObject;
  proof(challenge: string): string;
}

/** A fresh ed25519 host key. */
export function testHostKey(): TestHostKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicBlob = publicKeyBlob(publicKey);
  return {
    line: authorizedKeyLine(publicBlob), publicBlob, privateKey,
    proof: (challenge) => signSshsig({ privateKey, publicBlob }, ENROLL_NAMESPACE, Buffer.from(challenge)).toString('base64'),
  };
}

/** How a helper posts to a node: a path under the v4 base and a JSON body, the status and parsed body back. */
export type PostJson = (path: string, body: unknown) => Promise<{ status: number; body: any }>;

/**
 * Enrolls a host with a join token: asks for a challenge, signs it with every key, sends the proofs.
 * Returns the first answer that is not 200 (so a test can assert a refusal), or the enrollment's answer.
 */
export async function enrollTestHost(post: PostJson, joinToken: string, keys: TestHostKey[] = [testHostKey()]) {
  const c = await post('/host/enroll/challenge', { join_token: joinToken });
  if (c.status !== 200) return c;
  const challenge = c.body.result.challenge as string;
  return post('/host/enroll', { join_token: joinToken, challenge, host_keys: keys.map((k) => ({ public_key: k.line, signature: k.proof(challenge) })) });
}
