import { spawn, type ChildProcess } from 'node:child_process';
import { basename, dirname, join, resolve } from 'node:path';
import { testTempDir } from './temp-dir.ts';

const TREE = resolve(import.meta.dirname, '../..');
/**
 * `npm test` and `npm run test:quick` run the suite compiled, into .build/ and .build-quick/ (scripts/build-tests.mjs): loading
 * the server through tsx's module hooks costs about three times the CPU of loading it compiled, in every test
 * file and every process a test starts. Run from source (`node --import tsx --test FILE`), it uses tsx.
 * Either way the processes a test starts run the same code as the test itself.
 */
export const COMPILED = basename(TREE) === '.build' || basename(TREE) === '.build-quick';
/** The repository: fixtures, docs, README and package.json are read from here in both modes. */
export const ROOT = COMPILED ? dirname(TREE) : TREE;
/** The CLI's entry point in this mode. */
export const MAIN = COMPILED ? join(TREE, 'src/main.js') : join(ROOT, 'src/main.ts');
/** `node` arguments that run the CLI: spawn(process.execPath, [...CLI_ARGS, 'serve', …]). */
/** (tsx by its file URL: a process started in another directory, as the README walk's are, finds it too.) */
export const CLI_ARGS: readonly string[] = COMPILED ? [MAIN] : ['--import', import.meta.resolve('tsx'), MAIN];
/** The same as a shell command (for scripts and `sh -c`). */
export const CLI_COMMAND = [process.execPath, ...CLI_ARGS].map((a) => JSON.stringify(a)).join(' ');

/** A real `access-ca serve` process on a loopback port, with what its first-start banner printed. */
export interface ServerProcess {
  origin: string;
  base: string;
  dataDir: string;
  accountId: string;
  token: string;
  stderr(): string;
  stdout(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  child: ChildProcess;
}

/** Tests serve identity providers' JWKS on 127.0.0.1, which only the development allowance reaches. */
const DEV_IDP = { ACCESS_CA_ALLOW_PRIVATE_IDP: '1' };

/** The environment a child gets: the parent's, less anything that would steer the SDK or the store. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('CLOUDFLARE_') || k.startsWith('ACCESS_CA_')) delete env[k];
  return { ...env, ...extra };
}

/** Starts the server (from source as `npm run dev` does, or compiled under `npm test`) and waits until it listens. */
export async function startServer(opts: { dataDir?: string; args?: string[]; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? testTempDir('access-ca-srv-');
  const child = spawn(process.execPath, [...CLI_ARGS, '--data-dir', dataDir, 'serve', '--listen', '127.0.0.1:0', ...(opts.args ?? [])], {
    cwd: ROOT,
    env: cleanEnv({ ACCESS_CA_LOG_LEVEL: 'warn', ...DEV_IDP, ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  const listening = new Promise<string>((resolveListen, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /access-ca listening on (https?:\/\/[^\s]+)/.exec(err);
      if (m) resolveListen(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${err}`)));
    // Generous: a loaded 2-core machine takes up to about 20 s to load the server from source; a hang still fails here.
    setTimeout(() => reject(new Error(`server did not listen within 45 s:\n${err}`)), 45_000).unref();
  });
  // One that never listens is ended here: left running, it would keep the test process from exiting.
  const origin = await listening.catch((error: unknown) => {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    origin,
    base: `${origin}/client/v4`,
    dataDir,
    accountId: /^account_id: ([0-9a-f]{32})$/m.exec(err)?.[1] ?? '',
    token: /^api_token: (\S+)$/m.exec(err)?.[1] ?? '',
    stderr: () => err,
    stdout: () => out,
    child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI in a process of its own and returns its exit code and output. */
export async function runCliProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, env: cleanEnv({ ...DEV_IDP, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, stdout, stderr };
}

/** Runs the CLI in this process (fast), with the same streams contract as the real binary. */
export async function runCliInProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { runCli } = await import('../../src/cli/program.ts');
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { ...DEV_IDP, ...env }, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } }, ROOT);
  return { code, stdout, stderr };
}
