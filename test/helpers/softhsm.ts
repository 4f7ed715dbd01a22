import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { testTempDir } from './temp-dir.ts';

/** Where Debian's softhsm2 puts its PKCS#11 module (the first is a link to the second on amd64). */
const MODULE_PATHS = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'];

/** SoftHSM2's PKCS#11 module on this machine, or undefined. */
export const SOFTHSM_MODULE: string | undefined = MODULE_PATHS.find((p) => existsSync(p));

/** Why a SoftHSM2 test cannot run here, or null. `.ci/run` installs Debian's softhsm2. */
export function softhsmUnavailable(): string | null {
  if (process.env['ACCESS_CA_TEST_QUICK'] === '1') return 'npm run test:quick leaves SoftHSM2 out; npm test runs it';
  if (!SOFTHSM_MODULE) return `no SoftHSM2 module at ${MODULE_PATHS.join(' or ')} (Debian: softhsm2); .ci/run installs it`;
  if (spawnSync('softhsm2-util', ['--version']).error) return 'softhsm2-util is not installed (Debian: softhsm2); .ci/run installs it';
  return null;
}

/** A SoftHSM2 token initialised in a temp dir of its own, with its config, PIN file and clean-up. */
export interface SoftHsmToken {
  module: string;
  label: string;
  pin: string;
  soPin: string;
  /** A file holding the PIN, mode 0600 (what `serve --pkcs11-pin-file` reads). */
  pinFile: string;
  /** SOFTHSM2_CONF for this token: the module reads it when it is initialised, once per process. */
  conf: string;
  /** The environment a process needs to see this token. */
  env: Record<string, string>;
  /** Deletes the token (the module then finds no token by its label). */
  deleteToken(): void;
  remove(): void;
}

/**
 * Makes a fresh token with `softhsm2-util --init-token --free` in its own temp dir. SoftHSM2 reads
 * SOFTHSM2_CONF once, when the module is initialised: a test that opens the module in its own process
 * sets `process.env.SOFTHSM2_CONF = token.conf` before the first open, and uses one conf per process.
 */
export function createSoftHsmToken(opts: { label?: string; pin?: string } = {}): SoftHsmToken {
  if (!SOFTHSM_MODULE) throw new Error('SoftHSM2 is not installed');
  const dir = testTempDir('access-ca-softhsm-');
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, [`directories.tokendir = ${tokens}`, 'objectstore.backend = file', 'log.level = ERROR', 'slots.removable = false', ''].join('\n'));
  const label = opts.label ?? `access-ca-test-${randomBytes(3).toString('hex')}`;
  const pin = opts.pin ?? randomBytes(6).toString('hex');
  const soPin = randomBytes(6).toString('hex');
  const env = { SOFTHSM2_CONF: conf };
  const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token: ${init.stderr || init.stdout}`);
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  return {
    module: SOFTHSM_MODULE, label, pin, soPin, pinFile, conf, env,
    deleteToken() {
      const del = spawnSync('softhsm2-util', ['--delete-token', '--token', label], { encoding: 'utf8', env: { ...process.env, ...env } });
      if (del.status !== 0) throw new Error(`softhsm2-util --delete-token: ${del.stderr || del.stdout}`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
