import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { keyObjectSigner } from '../../src/openssh/ssh-signer.ts';
import { signCertificate, verifyIssued } from '../../src/openssh/sign-certificate.ts';
import { certTypeFor, parseCertificate, SSH_CERT_TYPE_USER, type CertificateBody } from '../../src/openssh/certificate.ts';
import { publicKeyBlob, authorizedKeyLine } from '../../src/openssh/public-key-blob.ts';
import { parseUserPublicKey, fingerprintOf } from '../../src/openssh/user-public-key.ts';
import { missingTool } from '../helpers/system-tools.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const run = promisify(execFile);
const COUNT = 1000;
const utc = (s: bigint) => new Date(Number(s) * 1000).toISOString().slice(0, 19);

function userKeys(): KeyObject[] {
  const keys: KeyObject[] = [];
  for (let i = 0; i < 8; i++) keys.push(generateKeyPairSync('ed25519').publicKey);
  for (let i = 0; i < 8; i++) keys.push(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  for (let i = 0; i < 3; i++) keys.push(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
  keys.push(generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey);
  return keys;
}

/** Reads ssh-keygen -L's listing into name → lines. */
function listing(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const line of text.split('\n').slice(1)) {
    const m = /^\s{8}([A-Za-z ]+):\s?(.*)$/.exec(line);
    if (m) {
      current = m[1]!;
      out.set(current, m[2] && m[2] !== '(none)' ? [m[2]] : []);
    } else if (line.trim() !== '') out.get(current)?.push(line.trim());
  }
  return out;
}

describe('certificates: 1,000 freshly signed, read back by ssh-keygen -L and by our parser', () => {
  it('every field matches what was asked, for Ed25519, P-256 and RSA user keys', async (t) => {
    const missing = missingTool('ssh-keygen', ['-?']);
    if (missing) return t.skip(missing);
    const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const caBlob = publicKeyBlob(ca.publicKey);
    const signer = keyObjectSigner(ca.privateKey, caBlob);
    const keys = userKeys().map((k) => parseUserPublicKey(authorizedKeyLine(publicKeyBlob(k), 'test')));
    const dir = testTempDir('access-ca-certs-');
    const seenTypes = new Set<string>();
    let next = 0;
    try {
      const worker = async () => {
        while (next < COUNT) {
          const i = next++;
          const key = keys[i % keys.length]!;
          const now = BigInt(Math.floor(Date.now() / 1000));
          const options: Record<string, string> = {};
          if (i % 3 === 0) options['force-command'] = `/usr/bin/echo cert ${i}`;
          if (i % 4 === 0) options['source-address'] = '127.0.0.1/32,10.0.0.0/8';
          const body: CertificateBody = {
            keyType: key.type, keyFields: key.fields, nonce: randomBytes(32),
            serial: BigInt.asUintN(64, randomBytes(8).readBigUInt64BE()), certType: SSH_CERT_TYPE_USER,
            keyId: `jdoe${i}@example.com cert=${randomBytes(8).toString('hex')}`,
            principals: i % 5 === 0 ? [`user${i}`, 'ops'] : [`user${i}`],
            validAfter: now - 30n, validBefore: now + 180n + BigInt(i),
            criticalOptions: options,
            extensions: { 'permit-pty': '', 'permit-agent-forwarding': '', 'permit-user-rc': '' },
            signatureKey: caBlob,
          };
          const cert = await signCertificate(body, signer);
          verifyIssued(parseCertificate(cert.blob), body, ca.publicKey);
          const file = join(dir, `c${i}-cert.pub`);
          writeFileSync(file, `${certTypeFor(key.type)} ${cert.blob.toString('base64')}\n`);
          const { stdout } = await run('ssh-keygen', ['-L', '-f', file], { env: { ...process.env, TZ: 'UTC' } });
          const l = listing(stdout);
          const label = `certificate ${i} (${key.type})`;
          assert.equal(l.get('Type')?.[0], `${certTypeFor(key.type)} user certificate`, label);
          assert.match(l.get('Public key')?.[0] ?? '', new RegExp(` ${key.fingerprint.replace(/[+/]/g, '\\$&')}$`), label);
          assert.equal(l.get('Signing CA')?.[0], `ECDSA ${fingerprintOf(caBlob)} (using ecdsa-sha2-nistp256)`, label);
          assert.equal(l.get('Key ID')?.[0], `"${body.keyId}"`, label);
          assert.equal(l.get('Serial')?.[0], body.serial.toString(), label);
          assert.equal(l.get('Valid')?.[0], `from ${utc(body.validAfter)} to ${utc(body.validBefore)}`, label);
          assert.deepEqual(l.get('Principals'), body.principals, label);
          assert.deepEqual(l.get('Critical Options'), Object.keys(options).sort().map((k) => `${k} ${options[k]}`), label);
          assert.deepEqual(l.get('Extensions'), ['permit-agent-forwarding', 'permit-pty', 'permit-user-rc'], label);
          seenTypes.add(key.type);
          rmSync(file);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      assert.deepEqual([...seenTypes].sort(), ['ecdsa-sha2-nistp256', 'ssh-ed25519', 'ssh-rsa']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
