import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import pino from 'pino';
import { parseGoDuration } from '../platform/go-duration.ts';
import { CliInputError, type Listen } from './cli-config.ts';

/** pino's levels, most severe first, and `silent`. */
export const LOG_LEVELS: readonly string[] = [
  ...Object.entries(pino.levels.values).sort(([, a], [, b]) => b - a).map(([name]) => name),
  'silent',
];

/** ACCESS_CA_LOG_LEVEL: one of pino's levels; anything else is refused with the list. */
export function parseLogLevel(value: string | undefined): string {
  const level = (value ?? 'info').trim().toLowerCase();
  if (LOG_LEVELS.includes(level)) return level;
  throw new CliInputError(`ACCESS_CA_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(value)}`);
}

/** `--shutdown-timeout` / ACCESS_CA_SHUTDOWN_TIMEOUT: seconds (`10`) or a duration (`10s`, `1m30s`); 10 s when unset. */
export function parseShutdownTimeout(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 10_000;
  const text = value.trim();
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseGoDuration(text);
  if (seconds === null || !Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new CliInputError(`--shutdown-timeout (env ACCESS_CA_SHUTDOWN_TIMEOUT) takes seconds or a duration such as 10s or 1m, at most 1h; got ${JSON.stringify(value)}`);
  }
  return Math.round(seconds * 1000);
}

/** `--krl-expiry-margin` (env ACCESS_CA_KRL_EXPIRY_MARGIN): a duration from 0s to 7 days, in seconds; 1h by default. */
export function parseKrlExpiryMargin(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 3600;
  const text = value.trim();
  const seconds = text === '0' ? 0 : parseGoDuration(text);
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0 || seconds > 7 * 86_400) {
    throw new CliInputError(`--krl-expiry-margin (env ACCESS_CA_KRL_EXPIRY_MARGIN) takes a duration from 0s to 168h, such as 1h; got ${JSON.stringify(value)}`);
  }
  return Math.round(seconds);
}

function readFor(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CliInputError(`${flag}: cannot read ${file} (${code})`);
  }
}

/**
 * `--tls-cert`/`--tls-key` (env ACCESS_CA_TLS_CERT/ACCESS_CA_TLS_KEY): both or neither. Both files are
 * read and checked now, as PEM and as a pair, so a wrong file is one sentence naming its flag at start.
 */
export function readTlsFiles(certFile: string | undefined, keyFile: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  const cert = certFile?.trim() || undefined;
  const key = keyFile?.trim() || undefined;
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new CliInputError(`--tls-cert and --tls-key (env ACCESS_CA_TLS_CERT, ACCESS_CA_TLS_KEY) go together: give both to serve HTTPS, or neither for HTTP; only ${cert === undefined ? '--tls-key' : '--tls-cert'} was given`);
  }
  const pair = { cert: readFor('--tls-cert', cert), key: readFor('--tls-key', key) };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch {
    throw new CliInputError(`--tls-cert: ${cert} is not a PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(pair.key);
  } catch {
    throw new CliInputError(`--tls-key: ${key} is not a PEM private key (an encrypted key is not taken)`);
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new CliInputError(`--tls-cert and --tls-key do not belong together: ${key} is not the key of ${cert}`);
  return pair;
}

/** A listen failure as the operator's to fix, with the flag that moves it; null for anything else. */
export function listenError(error: unknown, listen: Listen): CliInputError | null {
  const at = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  const move = 'choose another with --listen host:port (env ACCESS_CA_LISTEN)';
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE': return new CliInputError(`cannot listen on ${at}: the address is already in use (another server?). Stop it, or ${move}`);
    case 'EACCES': return new CliInputError(`cannot listen on ${at}: not allowed (ports below 1024 need privileges). Use a port above 1024, or ${move}`);
    case 'EADDRNOTAVAIL': return new CliInputError(`cannot listen on ${at}: that address is not on this machine; ${move}`);
    case 'ENOTFOUND': case 'EAI_AGAIN': return new CliInputError(`cannot listen on ${at}: the host name does not resolve; ${move}`);
    default: return null;
  }
}
