import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { delimiter, resolve } from 'node:path';
import pino from 'pino';
import { LOGGER_PROGRAM } from '../audit/audit-stream-syslog.ts';
import { parseGoDuration } from '../platform/go-duration.ts';
import { CliInputError, type Listen } from './cli-config.ts';
import { KEY_STORAGES, type KeyStorage } from '../signers/ca-key-token.ts';
import type { Pkcs11Settings } from '../signers/pkcs11-token.ts';

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

/** `serve --audit-log` and its companions, checked at start. */
export interface AuditLogOptions {
  /** The file every committed audit event is appended to, one JSON line each, before its answer goes. */
  path: string;
  /** fdatasync each append (one per group of answers): an acknowledged event survives a power loss, not only a crash. */
  fsync: boolean;
  /** The best-effort syslog copy: the daemon's socket, and the util-linux logger that sends to it. */
  syslog: { socket: string; program: string } | undefined;
}

/** The syslog daemon's socket on Linux. */
export const DEFAULT_SYSLOG_SOCKET = '/dev/log';

/** An on/off switch from the environment: on, 1, true / off, 0, false; unset or empty is `fallback`. */
export function parseOnOff(name: string, value: string | undefined, fallback: boolean): boolean {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return fallback;
  if (v === 'on' || v === '1' || v === 'true') return true;
  if (v === 'off' || v === '0' || v === 'false') return false;
  throw new CliInputError(`${name} must be on or off, got ${JSON.stringify(value)}`);
}

/** Where `program` is on PATH, as the shell would find it; undefined when it is not. */
function onPath(program: string, path: string | undefined): string | undefined {
  return (path ?? '').split(delimiter).filter(Boolean).map((dir) => resolve(dir, program)).find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * `--audit-log <file>` (env ACCESS_CA_AUDIT_LOG), `--audit-log-fsync` (env ACCESS_CA_AUDIT_LOG_FSYNC) and
 * `--audit-syslog [socket]` (env ACCESS_CA_AUDIT_SYSLOG: on, or a socket path). The syslog copy follows
 * the file (it is not the acknowledged record), so it needs --audit-log; logger must be on PATH and the
 * socket must be one, now, or the start is refused.
 */
export function parseAuditLog(
  flags: { auditLog?: string | undefined; auditLogFsync?: boolean | undefined; auditSyslog?: string | boolean | undefined },
  env: Record<string, string | undefined>,
): AuditLogOptions | undefined {
  const file = (flags.auditLog ?? env['ACCESS_CA_AUDIT_LOG'] ?? '').trim();
  const fsync = flags.auditLogFsync === true || parseOnOff('ACCESS_CA_AUDIT_LOG_FSYNC', env['ACCESS_CA_AUDIT_LOG_FSYNC'], false);
  const syslogEnv = (env['ACCESS_CA_AUDIT_SYSLOG'] ?? '').trim();
  const syslogSocket = flags.auditSyslog === true ? DEFAULT_SYSLOG_SOCKET
    : typeof flags.auditSyslog === 'string' ? flags.auditSyslog.trim() || DEFAULT_SYSLOG_SOCKET
      : syslogEnv.startsWith('/') ? syslogEnv
        : parseOnOff('ACCESS_CA_AUDIT_SYSLOG', syslogEnv, false) ? DEFAULT_SYSLOG_SOCKET : undefined;
  if (file === '') {
    if (syslogSocket !== undefined) throw new CliInputError('--audit-syslog copies the lines of --audit-log (the acknowledged record): give --audit-log <file> too');
    if (fsync) throw new CliInputError('--audit-log-fsync applies to --audit-log: give --audit-log <file> too');
    return undefined;
  }
  if (syslogSocket === undefined) return { path: resolve(file), fsync, syslog: undefined };
  const program = onPath(LOGGER_PROGRAM, env['PATH']);
  if (program === undefined) throw new CliInputError(`--audit-syslog sends through ${LOGGER_PROGRAM} (util-linux), which is not on PATH`);
  let socket = false;
  try {
    socket = statSync(syslogSocket).isSocket();
  } catch {
    // reported below
  }
  if (!socket) throw new CliInputError(`--audit-syslog: ${syslogSocket} is not a socket (is a syslog daemon running? name its socket with --audit-syslog <socket>)`);
  return { path: resolve(file), fsync, syslog: { socket: syslogSocket, program } };
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

/**
 * `--pkcs11-module`, `--pkcs11-token-label` and `--pkcs11-pin-file` (env ACCESS_CA_PKCS11_MODULE,
 * ACCESS_CA_PKCS11_TOKEN_LABEL, ACCESS_CA_PKCS11_PIN_FILE): all three or none. The PIN file must be a
 * regular file of mode 0600 or stricter (it is a secret, as the master key is); the PIN is read now, its
 * last line ending dropped, and never printed: errors name the file, not what it holds.
 */
export function parsePkcs11(
  flags: { pkcs11Module?: string | undefined; pkcs11TokenLabel?: string | undefined; pkcs11PinFile?: string | undefined },
  env: Record<string, string | undefined>,
): Pkcs11Settings | undefined {
  const module = (flags.pkcs11Module ?? env['ACCESS_CA_PKCS11_MODULE'] ?? '').trim();
  const tokenLabel = (flags.pkcs11TokenLabel ?? env['ACCESS_CA_PKCS11_TOKEN_LABEL'] ?? '').trim();
  const pinFile = (flags.pkcs11PinFile ?? env['ACCESS_CA_PKCS11_PIN_FILE'] ?? '').trim();
  const given = [module, tokenLabel, pinFile].filter((v) => v !== '').length;
  if (given === 0) return undefined;
  if (given < 3) {
    const missing = [['--pkcs11-module', module], ['--pkcs11-token-label', tokenLabel], ['--pkcs11-pin-file', pinFile]].filter(([, v]) => v === '').map(([flag]) => flag);
    throw new CliInputError(`a PKCS#11 token needs --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file (env ACCESS_CA_PKCS11_MODULE, ACCESS_CA_PKCS11_TOKEN_LABEL, ACCESS_CA_PKCS11_PIN_FILE); missing ${missing.join(', ')}`);
  }
  let stats;
  try {
    stats = statSync(pinFile);
  } catch (error) {
    throw new CliInputError(`--pkcs11-pin-file: cannot read ${pinFile} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!stats.isFile()) throw new CliInputError(`--pkcs11-pin-file: ${pinFile} is not a regular file`);
  if ((stats.mode & 0o077) !== 0) {
    throw new CliInputError(`--pkcs11-pin-file: ${pinFile} has mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}; it holds the token's PIN: make it 0600 or stricter (chmod 600 ${pinFile})`);
  }
  const pin = readFor('--pkcs11-pin-file', pinFile).toString('utf8').replace(/\r?\n$/, '');
  if (pin === '' || pin.includes('\n')) throw new CliInputError(`--pkcs11-pin-file: ${pinFile} must hold the PIN alone, on one line`);
  return { module: resolve(module), tokenLabel, pin };
}

/** `--ca-key-storage` (env ACCESS_CA_CA_KEY_STORAGE): where new CAs' keys live when a request does not say; pkcs11 needs a token. */
export function parseCaKeyStorage(value: string | undefined, token: Pkcs11Settings | undefined): KeyStorage | undefined {
  const text = (value ?? '').trim();
  if (text === '') return undefined;
  if (!(KEY_STORAGES as readonly string[]).includes(text)) throw new CliInputError(`--ca-key-storage must be one of ${KEY_STORAGES.join(', ')}; got ${JSON.stringify(value)}`);
  if (text === 'pkcs11' && !token) throw new CliInputError('--ca-key-storage pkcs11 needs a token: give --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file');
  return text as KeyStorage;
}
