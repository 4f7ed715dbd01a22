import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrivateKeyFile, PrivateKeyFileError } from '../openssh/private-key-file.ts';
import { authorizedKeyLine } from '../openssh/public-key-blob.ts';
import { HOST_ENROLL_NAMESPACE, signSshsig } from '../openssh/sshsig.ts';
import { agentRequest, AgentError, AgentInputError, envelopeResult, serverOrigin, type AgentHttp } from './agent-http.ts';
import { checkTrustedDir, readSecretFile } from './file-safety.ts';
import { credentialPath, writeHostCredential, type HostCredential } from './host-credential.ts';
import { HOST_STATE_FILE, syncHostOnce, type SyncReport } from './host-sync.ts';

/** The host keys a stock sshd has; enrollment proves each that exists unless --host-key names others. */
export const DEFAULT_HOST_KEYS = ['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ecdsa_key', '/etc/ssh/ssh_host_rsa_key'];
export const DEFAULT_AGENT_DIR = '/etc/ssh/access-ca';
const JOIN_TOKEN = /^acaj_[A-Za-z0-9_-]{16,128}$/;

export interface EnrollOptions {
  server: string;
  dir: string;
  joinTokenFile: string;
  /** Private host key files; the stock ones that exist when empty. */
  hostKeys: string[];
  /** Enroll again over a credential the directory already holds. */
  replace?: boolean;
  /** Take a plain-http server that is not on loopback (agent-http.ts serverOrigin). */
  insecureHttp?: boolean;
  reloadCommand?: string | undefined;
}

/**
 * Enrolls this host: proves its host keys by signing the server's challenge with each (SSHSIG), keeps the
 * host credential it gets in `dir` (0600), then syncs once — trust bundle, KRL and host certificates.
 * Nothing is written unless the server enrolled the host.
 */
export async function enrollHost(opts: EnrollOptions, http: AgentHttp = {}): Promise<{ credential: Omit<HostCredential, 'credential'>; report: SyncReport }> {
  const server = serverOrigin(opts.server, '--server', { insecureHttp: opts.insecureHttp === true });
  // sshd_config splits arguments on white space and quotes and expands % tokens in paths: keep to
  // characters that mean only themselves there, as sshd-sync does.
  if (!/^\/[A-Za-z0-9._/+@:=,~-]*$/.test(opts.dir)) throw new AgentInputError(`--dir ${JSON.stringify(opts.dir)}: sshd_config cannot name it as it is; use letters, digits and . _ / + @ : = , ~ - only`);
  checkTrustedDir(opts.dir, { create: true });
  if (existsSync(credentialPath(opts.dir)) && !opts.replace) {
    throw new AgentError(`${credentialPath(opts.dir)} exists: this host is enrolled already (sshd-sync uses it); --replace enrolls it again`);
  }
  const joinToken = readSecretFile(opts.joinTokenFile, { maxBytes: 4096 }).toString('utf8').trim();
  if (!JOIN_TOKEN.test(joinToken)) throw new AgentError(`${opts.joinTokenFile} does not hold a join token (acaj_…); make one with \`access-ca host join-token\``);
  const paths = opts.hostKeys.length > 0 ? opts.hostKeys : DEFAULT_HOST_KEYS.filter((p) => existsSync(p));
  if (paths.length === 0) throw new AgentError(`no host key found (${DEFAULT_HOST_KEYS.join(', ')}); name them with --host-key`);
  const keys = paths.map((path) => {
    try {
      return { path, ...parsePrivateKeyFile(readSecretFile(path, { maxBytes: 64 * 1024 }).toString('utf8')) };
    } catch (error) {
      if (error instanceof PrivateKeyFileError) throw new AgentError(`${path}: ${error.message}`);
      throw error;
    }
  });

  const challenge = envelopeResult((await agentRequest(server, '/client/v4/host/enroll/challenge', {
    method: 'POST', body: JSON.stringify({ join_token: joinToken }), limit: 64 * 1024, what: 'enrollment challenge',
  }, http)).body, 'enrollment challenge')['challenge'];
  if (typeof challenge !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) throw new AgentError('the server sent no usable challenge');
  const enrolled = envelopeResult((await agentRequest(server, '/client/v4/host/enroll', {
    method: 'POST', limit: 64 * 1024, what: 'enrollment',
    body: JSON.stringify({
      join_token: joinToken, challenge,
      host_keys: keys.map((k) => ({ public_key: authorizedKeyLine(k.publicBlob), signature: signSshsig(k, HOST_ENROLL_NAMESPACE, Buffer.from(challenge, 'utf8')).toString('base64') })),
    }),
  }, http)).body, 'enrollment');
  for (const field of ['credential', 'id', 'account_id', 'target_id'] as const) {
    if (typeof enrolled[field] !== 'string') throw new AgentError(`the server's enrollment answer has no ${field}`);
  }
  const credential: HostCredential = {
    format: 'access-ca-host-credential', version: 1, server,
    credential: enrolled['credential'] as string, host_id: enrolled['id'] as string,
    account_id: enrolled['account_id'] as string, target_id: enrolled['target_id'] as string,
    host_keys: keys.map((k) => ({ path: k.path, public_key: authorizedKeyLine(k.publicBlob) })),
  };
  writeHostCredential(opts.dir, credential);
  // What the directory held of an earlier enrollment (versions, host certificate status) is not this one's.
  rmSync(join(opts.dir, HOST_STATE_FILE), { force: true });
  const report = await syncHostOnce({ dir: opts.dir, server, reloadCommand: opts.reloadCommand }, http);
  const { credential: _secret, ...shown } = credential;
  return { credential: shown, report };
}
