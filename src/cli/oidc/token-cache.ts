import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SignedIn } from './oidc-client.ts';

/** A cached sign-in for one host, like cloudflared's token files: `<dir>/<host>-token.json`, mode 0600. */
export interface CachedSignIn extends SignedIn {
  issuer: string;
  clientId: string;
}

const file = (dir: string, host: string) => join(dir, `${host}-token.json`);

export function readSignIn(dir: string, host: string): CachedSignIn | null {
  const path = file(dir, host);
  if (!existsSync(path)) return null;
  try {
    const c = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof c.idToken !== 'string' || typeof c.issuer !== 'string' || typeof c.clientId !== 'string') return null;
    return c as CachedSignIn;
  } catch {
    return null;
  }
}

export function writeSignIn(dir: string, host: string, value: CachedSignIn): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The directory holds refresh tokens: nobody else may list or replace what is in it.
  chmodSync(dir, 0o700);
  const path = file(dir, host);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

export function forgetSignIn(dir: string, host: string): void {
  rmSync(file(dir, host), { force: true });
}
