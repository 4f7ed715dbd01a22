import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseCertificate } from '../openssh/certificate.ts';
import { authorizedKeyLine, publicKeyBlob } from '../openssh/public-key-blob.ts';
import { parseUserPublicKey } from '../openssh/user-public-key.ts';
import { ClientError, CliInputError, type Env } from './cli-config.ts';
import { isStoreFile } from '../platform/store-files.ts';
import { currentIdToken, signIn, type SignInOptions } from './oidc/id-token-source.ts';
import type { Output } from './output.ts';
import { agentRequest } from '../host-agent/agent-http.ts';
import { writeSignIn } from './oidc/token-cache.ts';
import { TRIAL_CLIENT_ID } from './oidc/id-token-source.ts';
import { isIdentityEmail } from '../platform/text.ts';
import type { Run } from './cli-services.ts';
import { createTargetCoverage } from '../ssh-certs/target-coverage.ts';

export type RunClient = (json: boolean | undefined, action: (out: Output) => Promise<void>) => Promise<void>;

/** Certificates this close to expiry are renewed rather than reused. */
const REUSE_MARGIN_S = 30;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

function checkHostname(host: string): string {
  // The hostname becomes part of file names: nothing that could leave the directory.
  if (!HOSTNAME.test(host)) throw new CliInputError(`--hostname must be a DNS name or address, got ${JSON.stringify(host)}`);
  return host.toLowerCase();
}

/** The server's origin; `--server` is `https://ca.example.com`, not the `/client/v4` base. */
function checkServer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliInputError(`--server must be a URL such as https://ca.example.com, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliInputError('--server must be an http(s) URL');
  if (url.pathname !== '/' && url.pathname !== '') throw new CliInputError(`--server is the server's origin (${url.origin}), without a path`);
  return url.origin;
}

/** Writes a file atomically with the given mode. */
function writePrivate(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** The person's key for a host: made once (P-256, PKCS#8 PEM, 0600), reused after. */
function ensureKey(dir: string, host: string): { keyFile: string; publicLine: string } {
  const keyFile = join(dir, `${host}-cf_key`);
  let publicLine: string;
  if (existsSync(keyFile)) {
    const priv = createPrivateKey(readFileSync(keyFile));
    publicLine = authorizedKeyLine(publicKeyBlob(createPublicKey(priv)), `access-ca@${host}`);
  } else {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writePrivate(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    publicLine = authorizedKeyLine(publicKeyBlob(publicKey), `access-ca@${host}`);
  }
  writePrivate(`${keyFile}.pub`, `${publicLine}\n`, 0o600);
  return { keyFile, publicLine };
}

/** The current certificate, if it is for this key and has at least the margin left. */
function reusable(certFile: string, publicLine: string, nowS: number): { validBefore: number } | null {
  if (!existsSync(certFile)) return null;
  try {
    const cert = parseCertificate(Buffer.from(readFileSync(certFile, 'utf8').trim().split(/\s+/)[1] ?? '', 'base64'));
    const key = parseUserPublicKey(publicLine);
    const validBefore = Number(cert.validBefore);
    if (!cert.keyFields.equals(key.fields) || validBefore - nowS < REUSE_MARGIN_S) return null;
    return { validBefore };
  } catch {
    return null;
  }
}

/** A token given by hand (file or environment), if any; a file that is not there is said as such, with the other way. */
function givenJwt(jwtFile: string | undefined, env: Env): string | null {
  let fromFile: string | undefined;
  if (jwtFile) {
    try {
      fromFile = readFileSync(jwtFile, 'utf8').trim();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CliInputError(`--jwt-file ${jwtFile}: ${code === 'ENOENT' ? 'no such file' : code ?? (error as Error).message}; give the path of a file holding your identity token, or set ACCESS_CA_JWT, or leave both out to sign in (access-ca login)`);
    }
  }
  const jwt = jwtFile ? fromFile : env['ACCESS_CA_JWT']?.trim();
  if (jwtFile && !jwt) throw new CliInputError(`--jwt-file ${jwtFile} is empty`);
  return jwt || null;
}

function signInOptions(o: { device?: boolean; browser?: boolean; signIn?: boolean }, server: string, host: string, dir: string, out: Output): SignInOptions {
  return {
    server, host, dir, device: o.device === true, openBrowser: o.browser !== false, interactive: o.signIn !== false,
    say: (text) => out.info(text), now: () => Math.floor(Date.now() / 1000),
  };
}

async function requestCertificate(server: string, body: Record<string, string>): Promise<{ id: string; certificate: string; expires_at: string }> {
  let res: Response;
  try {
    res = await fetch(`${server}/cdn-cgi/access/cert_sign`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new ClientError(`cannot reach ${server}: ${(error as Error).message}`);
  }
  const text = await res.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ClientError(`${server} answered HTTP ${res.status} with something other than JSON; is --server the access-ca origin?`);
  }
  if (res.status !== 200) throw new ClientError(`the server refused: ${parsed?.message ?? 'no reason given'} (HTTP ${res.status})`);
  if (typeof parsed?.certificate !== 'string') throw new ClientError('the server\'s answer has no certificate');
  return parsed;
}

/** npm's cache (`npx` runs from there): a path that npm may clean or replace at any time. */
const IN_NPM_CACHE = /[\\/](_npx|\.npm|_cacache)[\\/]/;

/**
 * The `access-ca` command as ssh's Match exec should run it, stable across upgrades: an explicit
 * `--command`, else the installed bin (`npm link`, `npm install -g`: a symlink named access-ca), else
 * `node <dist/main.js>` of a clone. Run through npx, the script lives in npm's cache, which npm may clean:
 * that is refused, with the two ways out.
 */
export function selfCommand(argv1: string | undefined, execPath: string, given?: string): string {
  if (given !== undefined) {
    if (given.trim() === '' || /["\n\r]/.test(given)) throw new CliInputError('--command must be a command line without quotes or line breaks, e.g. /usr/local/bin/access-ca');
    return given.trim();
  }
  if (!argv1) return 'access-ca';
  const script = resolve(argv1);
  let real = script;
  try {
    real = realpathSync(script);
  } catch {
    // not there any more: judged by the path as given
  }
  if (IN_NPM_CACHE.test(script) || IN_NPM_CACHE.test(real)) {
    throw new CliInputError(
      `access-ca runs from npm's cache (${script}), which npm may clean: install it (npm install -g access-ca, or npm link in a clone) ` +
      'and run ssh-config again, or name the command ssh should run with --command',
    );
  }
  if (basename(script) === 'access-ca') return script;
  // Run from source (`node --import tsx src/main.ts`), node needs the loader too.
  return script.endsWith('.ts') ? `${execPath} --import tsx ${script}` : `${execPath} ${script}`;
}

/** ssh-gen's files never go into a server's data directory (see isSshGenFile in store-files.ts). */
function refuseServerDataDir(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return; // not made yet
  }
  if (names.some(isStoreFile)) {
    throw new CliInputError(
      `${dir} holds an access-ca server's store (master.key, access-ca.db): ssh-gen keeps a person's keys apart from it. ` +
      'Give ssh-gen another --dir, or move the server\'s data elsewhere (--data-dir)',
    );
  }
}

/** The known_hosts lines of the account that holds `host` (`GET /cdn-cgi/access/host_ca`), checked line by line. */
export async function fetchKnownHosts(server: string, host: string): Promise<string> {
  const got = await agentRequest(server, `/cdn-cgi/access/host_ca?hostname=${encodeURIComponent(host)}`, { limit: 256 * 1024, what: 'host CA' });
  let body: { known_hosts?: unknown };
  try {
    body = JSON.parse(got.body.toString('utf8')) as { known_hosts?: unknown };
  } catch {
    throw new ClientError('the server\'s host CA answer is not JSON; is --server the access-ca origin?');
  }
  if (typeof body.known_hosts !== 'string' || !/^(@(cert-authority|revoked) [A-Za-z0-9.*,_:-]+ [a-z0-9-]+ [A-Za-z0-9+/]+={0,2}( [\x21-\x7e]+)?\n)+$/.test(body.known_hosts)) {
    throw new ClientError('the server\'s known_hosts lines are malformed');
  }
  return body.known_hosts;
}

/** `ssh-gen` and `ssh-config`: what people run, like `cloudflared access ssh-gen`. */
export function registerSshClientCommands(program: Command, runClient: RunClient, env: Env, run: Run): void {
  const defaultDir = join(homedir(), '.access-ca');

  program.command('ssh-gen').description('get a short-lived SSH certificate for a host (cloudflared\'s file layout)')
    .requiredOption('--hostname <host>', 'the SSH host the certificate is for')
    .requiredOption('--server <url>', 'the access-ca server\'s origin, e.g. https://ca.example.com')
    .option('--jwt-file <file>', 'an identity token to use instead of your sign-in (or env ACCESS_CA_JWT)')
    .option('--dir <dir>', 'where keys, certificates and sign-ins live', defaultDir)
    .option('--device', 'sign in with a device code (no browser on this machine)')
    .option('--no-browser', 'print the sign-in URL instead of opening a browser')
    .option('--no-sign-in', 'fail instead of starting a sign-in when the saved one cannot be renewed')
    .option('--json', 'print JSON')
    .action((o) => runClient(o.json, async (out) => {
      const host = checkHostname(o.hostname);
      const server = checkServer(o.server);
      const dir = resolve(o.dir);
      refuseServerDataDir(dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      const { keyFile, publicLine } = ensureKey(dir, host);
      const certFile = `${keyFile}-cert.pub`;
      const nowS = Math.floor(Date.now() / 1000);
      const current = reusable(certFile, publicLine, nowS);
      if (current) {
        const expires = new Date(current.validBefore * 1000).toISOString();
        out.result({ hostname: host, key_file: keyFile, certificate_file: certFile, expires_at: expires, reused: true }, `certificate for ${host} still valid until ${expires}: ${certFile}`, certFile);
        return;
      }
      const given = givenJwt(o.jwtFile, env);
      // The hostname always goes along: the server refuses a token whose application does not serve it, so
      // a typo is refused instead of getting another host's certificate under its name. (A provider's own
      // ID token names a client, not the app: then the hostname is what tells the server which app.)
      const jwt = given ?? await currentIdToken(signInOptions(o, server, host, dir, out));
      const body: Record<string, string> = { public_key: publicLine, jwt, issuer: server, hostname: host };
      const issued = await requestCertificate(server, body);
      writePrivate(certFile, `${issued.certificate.trim()}\n`, 0o600);
      out.result(
        { hostname: host, key_file: keyFile, certificate_file: certFile, id: issued.id, expires_at: issued.expires_at, reused: false },
        `certificate for ${host} valid until ${issued.expires_at}: ${certFile}`,
        certFile,
      );
    }));

  program.command('login').description('sign in with your identity provider and keep the sign-in for ssh-gen')
    .option('--server <url>', 'the access-ca server\'s origin (required unless --trial)')
    .requiredOption('--hostname <host>', 'the SSH host (its application decides the identity provider)')
    .option('--device', 'sign in with a device code (no browser on this machine)')
    .option('--no-browser', 'print the sign-in URL instead of opening a browser')
    .option('--trial', 'sign in with the account\'s trial identity provider (access-ca idp create --trial) as --email, on the server\'s data directory: for evaluation only')
    .option('--email <address>', 'with --trial: the person to sign in as')
    .option('--dir <dir>', 'where sign-ins are kept', defaultDir)
    .option('--json', 'print JSON')
    .action((o) => (o.trial ? trialLogin(o) : runClient(o.json, async (out) => {
      if (o.server === undefined) throw new CliInputError('--server is required: the access-ca server\'s origin, e.g. https://ca.example.com (or --trial, with the trial identity provider)');
      if (o.email !== undefined) throw new CliInputError('--email is for --trial only: with a real provider, you sign in as who the provider says you are');
      const host = checkHostname(o.hostname);
      const server = checkServer(o.server);
      refuseServerDataDir(resolve(o.dir));
      const done = await signIn(signInOptions(o, server, host, resolve(o.dir), out));
      const expires = new Date(done.expiresAt * 1000).toISOString();
      out.result(
        { hostname: host, email: done.email, expires_at: expires, refreshable: done.refreshToken !== null, file: done.file },
        `signed in${done.email ? ` as ${done.email}` : ''} for ${host}; the sign-in is kept in ${done.file}`,
      );
    })));

  /**
   * `login --trial`: a trial identity token for the host's application, signed on the data directory with
   * the account's trial provider key and kept where ssh-gen looks for a sign-in. No server is asked: the
   * key never leaves the store, and only who can open the store can sign.
   */
  function trialLogin(o: { hostname: string; email?: string; dir: string; json?: boolean; device?: boolean }) {
    return run(o.json, async (s, out) => {
      const { asInput } = await import('./cli-services.ts');
      const host = checkHostname(o.hostname);
      if (o.device) throw new CliInputError('--device is for a real identity provider: --trial signs in without one');
      if (o.email === undefined || !isIdentityEmail(o.email)) throw new CliInputError('--trial needs --email <address>: the person to sign in as, e.g. alice@example.com');
      const dir = resolve(o.dir);
      refuseServerDataDir(dir);
      // An application's domain, or a target an infrastructure application covers.
      const covering = await s.appsStore.findByHost(host).then(async (byHost) => (byHost ? [byHost] : createTargetCoverage(s.runtime.database.db).coveringApps(host)));
      if (covering.length > 1) throw new CliInputError(`several infrastructure applications cover the target ${host}: the trial sign-in names one application`);
      const app = covering[0];
      if (!app) throw new CliInputError(`no application in this store has the domain ${host}, and no infrastructure application covers a target of that name: ssh-gen --hostname names an application's domain or a target (access-ca app list --account <id>)`);
      const signed = await asInput(s.idps.trialToken(app.account_id, { email: o.email, audience: app.aud, nowS: Math.floor(Date.now() / 1000) }), {
        notFound: `account ${app.account_id} of ${host} has no trial identity provider: make one with access-ca idp create --account ${app.account_id} --trial`,
      });
      const file = writeSignIn(dir, host, { idToken: signed.jwt, refreshToken: null, expiresAt: signed.expiresAt, email: o.email, issuer: signed.issuer, clientId: TRIAL_CLIENT_ID });
      const expires = new Date(signed.expiresAt * 1000).toISOString();
      out.result(
        { hostname: host, email: o.email, expires_at: expires, refreshable: false, file, trial: true },
        `signed in as ${o.email} for ${host} with the trial identity provider (evaluation only) until ${expires}; the sign-in is kept in ${file}`,
      );
    });
  }

  program.command('ssh-config').description('print the ~/.ssh/config block that gets a certificate before each ssh')
    .requiredOption('--hostname <host>', 'the SSH host (an ssh Match pattern)')
    .requiredOption('--server <url>', 'the access-ca server\'s origin')
    .option('--jwt-file <file>', 'pass this token file to ssh-gen (by default it uses your sign-in)')
    .option('--dir <dir>', 'where keys and certificates live', defaultDir)
    .option('--command <command>', 'the access-ca command ssh should run (default: this installed access-ca; required when run through npx)')
    .option('--known-hosts <host>', 'also check hosts by the account\'s host CA: fetch the known_hosts lines for this host (known-hosts), keep them in --dir, and add StrictHostKeyChecking yes to the block')
    .option('--json', 'print JSON')
    .action((o) => runClient(o.json, async (out) => {
      const server = checkServer(o.server);
      if (!/^[A-Za-z0-9.*?-]{1,253}$/.test(o.hostname)) throw new CliInputError('--hostname must be a host name or ssh pattern');
      const dir = resolve(o.dir);
      // ssh runs the exec without a terminal: never wait on a sign-in there; `access-ca login` does that.
      const jwt = o.jwtFile ? ` --jwt-file ${resolve(o.jwtFile)}` : ' --no-sign-in';
      const lines = [
        `Match host ${o.hostname} exec "${selfCommand(process.argv[1], process.execPath, o.command)} ssh-gen --hostname %h --server ${server} --dir ${dir}${jwt}"`,
        `  IdentityFile ${dir}/%h-cf_key`,
        `  CertificateFile ${dir}/%h-cf_key-cert.pub`,
      ];
      if (o.knownHosts !== undefined) {
        // The host CA's lines in a file of their own, so a later run replaces them (a rotation) without touching the user's.
        // One file per host CA lookup: a block for another account's hosts keeps its own lines.
        const file = join(dir, `${checkHostname(o.knownHosts)}.known_hosts`);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(file, await fetchKnownHosts(server, checkHostname(o.knownHosts)), { mode: 0o644 });
        out.info(`wrote the host CA's known_hosts lines to ${file}; run ssh-config again after a host CA rotation`);
        lines.push(`  UserKnownHostsFile ${file} ~/.ssh/known_hosts`, '  StrictHostKeyChecking yes');
      }
      const block = lines.join('\n');
      out.result({ ssh_config: block }, block, block);
    }));
}
