import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { PKCS11 } from 'pkcs11js';
import { ApiError, errors } from '../platform/http/errors.ts';
import { ECDSA_P256, p256PublicKeyBlob } from '../openssh/ecdsa-p256.ts';
import { p256SignatureBlob } from '../openssh/ecdsa-signature.ts';
import type { SshSigner } from '../openssh/ssh-signer.ts';
import { createBoundedPool, type BoundedPool } from './bounded-pool.ts';
import type { CaKeyToken, SignerObserver, TokenKeyAttributes, TokenProblem } from './ca-key-token.ts';

type Pkcs11Lib = typeof import('pkcs11js');
type Handle = Buffer;

/** `serve --pkcs11-*`: which module, which token, its user PIN (read from a file, never logged). */
export interface Pkcs11Settings {
  module: string;
  tokenLabel: string;
  pin: string;
  /** Sessions opened on the token: signatures in flight at once (default 4, libuv's default thread pool). */
  sessions?: number;
  /** Signatures that may wait for a session; past it, 503 with retry-after (default 256). */
  maxWaiting?: number;
  /** How long one may wait for a session before it is answered 503 (default 2 s). */
  maxWaitMs?: number;
  /** How often a token that failed is tried again, at most (default 10 s); a refused PIN never is. */
  retryMs?: number;
}

/** What the token reports to: the server's log (the PIN is never in a line), and the signer metrics. */
export interface TokenObserver extends Partial<SignerObserver> {
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** DER of the named curve prime256v1 (1.2.840.10045.3.1.7), for CKA_EC_PARAMS. */
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

/** PKCS#11 return values after which the sessions are no use and the token is connected again. */
const LOST = ['CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_ERROR',
  'CKR_USER_NOT_LOGGED_IN', 'CKR_CRYPTOKI_NOT_INITIALIZED', 'CKR_TOKEN_NOT_RECOGNIZED', 'CKR_GENERAL_ERROR'];
/** …and after which only this key is gone. */
const KEY_GONE = ['CKR_KEY_HANDLE_INVALID', 'CKR_OBJECT_HANDLE_INVALID'];
/** A PIN the token refused is never tried again by itself: each try uses up the token's retry counter. */
const PIN_REFUSED = ['CKR_PIN_INCORRECT', 'CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE'];

/** The CKR_… name of a pkcs11js error (its message), or undefined for anything else. */
function ckr(error: unknown): string | undefined {
  const message = (error as Error | undefined)?.message ?? '';
  return /^CKR_[A-Z_]+/.exec(message)?.[0];
}

class ProblemError extends Error {
  constructor(readonly problem: TokenProblem, readonly detail: string) {
    super(problem.reason);
  }
}

/**
 * A CaKeyToken over a PKCS#11 module (pkcs11js). Signing and key generation run on libuv's thread pool
 * (the library's async calls), one session per operation from a bounded pool; the short calls that only
 * bind a key to a session (C_SignInit, C_FindObjects) stay on the event loop. A token that cannot be
 * reached, or whose PIN is refused, does not stop the server: every use answers 503 with the reason and
 * /readyz says so, and the connection is tried again at most every `retryMs` (never with a refused PIN),
 * the module initialised afresh each time. A token removed while the server runs is found gone by /readyz
 * or by the first signature that fails, and signs again once it is back. The module is this process's
 * alone: one token connection per module and process, as `serve` and the CLI verbs open it.
 */
export function openPkcs11Token(settings: Pkcs11Settings, observer: TokenObserver): CaKeyToken {
  const sessionCount = settings.sessions ?? 4;
  const limits = { maxWaiting: settings.maxWaiting ?? 256, maxWaitMs: settings.maxWaitMs ?? 2000 };
  const retryMs = settings.retryMs ?? 10_000;
  const { log } = observer;
  // The metrics are the app's, attached once it is built (observe); until then, what the caller gave.
  const report: Partial<SignerObserver> = { signed: observer.signed, failed: observer.failed };

  let lib: Pkcs11Lib | undefined;
  let p11: PKCS11 | undefined;
  let initialized = false;
  let connected: { slot: Handle; sessions: Handle[]; pool: BoundedPool<Handle> } | undefined;
  let problem: TokenProblem | null = null;
  let lastTry = 0;
  /** Calls into the module now running in a session: the module is started afresh only when none is. */
  let inFlight = 0;
  /** Private key handles by object id: valid in every session of this connection. */
  const handles = new Map<string, Handle>();

  const fail = (kind: TokenProblem['kind'], reason: string, detail: string): never => {
    throw new ProblemError({ kind, reason }, detail);
  };

  function connect(): void {
    lastTry = Date.now();
    if (!p11) {
      try {
        lib = createRequire(import.meta.url)('pkcs11js') as Pkcs11Lib;
        const module = new lib.PKCS11();
        module.load(settings.module);
        p11 = module;
      } catch (error) {
        fail('module', 'the PKCS#11 module could not be loaded', `${settings.module}: ${(error as Error).message}`);
      }
    }
    const m = p11!;
    const c = lib!;
    if (initialized) {
      // A try after a failure starts the module afresh: some modules (SoftHSM2 among them) never see a token
      // again that went away while they ran, nor one that came after, until they are initialised again.
      // Never under a call still running on another thread, which C_Finalize would pull the module from.
      if (inFlight > 0) fail(problem?.kind ?? 'device', problem?.reason ?? 'the token is being reconnected', `${inFlight} calls of the lost connection still running`);
      try { m.C_Finalize(); } catch { /* the module may already consider itself finalised */ }
      initialized = false;
    }
    if (!initialized) {
      try {
        // OS locking: signatures run on several threads at once, each in its own session.
        m.C_Initialize({ flags: c.CKF_OS_LOCKING_OK });
      } catch (error) {
        if (ckr(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') fail('module', `the PKCS#11 module did not initialise (${ckr(error) ?? 'error'})`, (error as Error).message);
      }
      initialized = true;
    }
    const slot = m.C_GetSlotList(true).find((s) => labelIn(m, s) === settings.tokenLabel);
    if (!slot) fail('token', 'no token with the configured label is present', `no token labelled "${settings.tokenLabel}" in ${settings.module}`);
    const sessions: Handle[] = [];
    try {
      for (let i = 0; i < sessionCount; i++) sessions.push(m.C_OpenSession(slot!, c.CKF_SERIAL_SESSION | c.CKF_RW_SESSION));
      try {
        // A login holds for every session of this process on the token.
        m.C_Login(sessions[0]!, c.CKU_USER, settings.pin);
      } catch (error) {
        const code = ckr(error);
        if (code !== 'CKR_USER_ALREADY_LOGGED_IN') {
          if (code && PIN_REFUSED.includes(code)) {
            fail('pin', `the token refused the PIN (${code}); it is not tried again until the server restarts with a corrected --pkcs11-pin-file`, code);
          }
          throw error;
        }
      }
    } catch (error) {
      for (const s of sessions) {
        try { m.C_CloseSession(s); } catch { /* already gone */ }
      }
      if (error instanceof ProblemError) throw error;
      fail('device', `the token could not be opened (${ckr(error) ?? 'error'})`, (error as Error).message);
    }
    handles.clear();
    connected = { slot: slot!, sessions, pool: createBoundedPool(sessions, limits, () => report.failed?.('busy')) };
  }

  function tryConnect(): void {
    try {
      connect();
      if (problem) log.info({ event: 'pkcs11.connected', module: settings.module, token: settings.tokenLabel }, 'the PKCS#11 token can sign again');
      problem = null;
    } catch (error) {
      const next = error instanceof ProblemError ? error.problem : { kind: 'device' as const, reason: 'the token could not be opened' };
      // Once per change, not once per request.
      if (problem?.reason !== next.reason) {
        log.error({ event: 'pkcs11.unavailable', kind: next.kind, module: settings.module, token: settings.tokenLabel, detail: error instanceof ProblemError ? error.detail : (error as Error).message }, `PKCS#11 token unavailable: ${next.reason}`);
      }
      problem = next;
    }
  }

  /** The connection, connecting again when a retry is due; else the catalog's 503 with the reason. */
  function usable(): NonNullable<typeof connected> {
    if (!connected && problem?.kind !== 'pin' && Date.now() - lastTry >= retryMs) tryConnect();
    if (!connected) {
      report.failed?.('unavailable');
      throw errors.caKeyUnavailable(problem?.reason ?? 'the token is not connected');
    }
    return connected;
  }

  /** After a failure that says the token or its sessions are gone: drop them, and connect again on a later use. */
  function lost(code: string, during: string): void {
    if (!connected) return;
    const { slot } = connected;
    connected = undefined;
    handles.clear();
    problem = { kind: 'device', reason: `the token was removed or stopped answering (${code})` };
    log.error({ event: 'pkcs11.unavailable', kind: 'device', during, code, token: settings.tokenLabel }, `PKCS#11 token unavailable: ${problem.reason}`);
    try { p11?.C_CloseAllSessions(slot); } catch { /* the token may be gone */ }
    lastTry = 0;
  }

  /**
   * Why the connected token is no longer the one configured, or null while it is: gone from its slot (a
   * module may keep the sessions of a removed token answering), or another token in its place.
   */
  function goneFrom(c: NonNullable<typeof connected>): string | null {
    try {
      if (p11!.C_GetTokenInfo(c.slot).label.trim() !== settings.tokenLabel) return 'another token is in its slot';
      p11!.C_GetSessionInfo(c.sessions[0]!);
      return null;
    } catch (error) {
      return ckr(error) ?? 'error';
    }
  }

  /** Runs `work` in a session of its own; maps the token's failures to the catalog. */
  async function inSession<R>(during: string, work: (m: PKCS11, c: Pkcs11Lib, session: Handle) => Promise<R>): Promise<R> {
    const connection = usable();
    try {
      return await connection.pool.use(async (session) => {
        inFlight++;
        try {
          return await work(p11!, lib!, session);
        } finally {
          inFlight--;
        }
      });
    } catch (error) {
      const code = ckr(error);
      if (code && LOST.includes(code)) {
        lost(code, during);
        report.failed?.('unavailable');
        throw errors.caKeyUnavailable(problem!.reason);
      }
      if (code && KEY_GONE.includes(code)) {
        // A removed token's objects are gone too: say which it is.
        const gone = connected === connection ? goneFrom(connection) : null;
        if (gone) {
          lost(gone, during);
          report.failed?.('unavailable');
          throw errors.caKeyUnavailable(problem!.reason);
        }
        handles.clear();
        report.failed?.('key_missing');
        throw errors.caKeyUnavailable('the CA key is not in the token');
      }
      if (!(error instanceof ApiError)) report.failed?.('error');
      throw error;
    }
  }

  function find(m: PKCS11, c: Pkcs11Lib, session: Handle, objectId: Buffer, cls: number): Handle | undefined {
    m.C_FindObjectsInit(session, [{ type: c.CKA_CLASS, value: cls }, { type: c.CKA_ID, value: objectId }]);
    try {
      return m.C_FindObjects(session, 1)[0];
    } finally {
      m.C_FindObjectsFinal(session);
    }
  }

  function privateKey(m: PKCS11, c: Pkcs11Lib, session: Handle, objectIdHex: string): Handle {
    const cached = handles.get(objectIdHex);
    if (cached) return cached;
    const handle = find(m, c, session, Buffer.from(objectIdHex, 'hex'), c.CKO_PRIVATE_KEY);
    if (!handle) {
      report.failed?.('key_missing');
      throw errors.caKeyUnavailable('the CA key is not in the token (deleted, or another token has the configured label)');
    }
    handles.set(objectIdHex, handle);
    return handle;
  }

  tryConnect();

  return {
    observe(metrics) {
      report.signed = metrics.signed;
      report.failed = metrics.failed;
    },

    async check() {
      if (!connected && problem?.kind !== 'pin' && Date.now() - lastTry >= retryMs) tryConnect();
      if (!connected) return problem;
      // Cheap, and it fails once the token is gone.
      const gone = goneFrom(connected);
      if (gone) lost(gone, 'check');
      return problem;
    },

    async generateKey(label, objectId) {
      return inSession('generate', async (m, c, session) => {
        const common = [{ type: c.CKA_TOKEN, value: true }, { type: c.CKA_LABEL, value: label }, { type: c.CKA_ID, value: objectId }];
        const pair = await m.C_GenerateKeyPairAsync(session, { mechanism: c.CKM_EC_KEY_PAIR_GEN }, [
          ...common, { type: c.CKA_CLASS, value: c.CKO_PUBLIC_KEY }, { type: c.CKA_KEY_TYPE, value: c.CKK_EC },
          { type: c.CKA_EC_PARAMS, value: P256_PARAMS }, { type: c.CKA_VERIFY, value: true }, { type: c.CKA_PRIVATE, value: false },
        ], [
          // Made inside, never to leave: sensitive (no plaintext read) and not extractable (no wrapping out).
          ...common, { type: c.CKA_CLASS, value: c.CKO_PRIVATE_KEY }, { type: c.CKA_KEY_TYPE, value: c.CKK_EC },
          { type: c.CKA_PRIVATE, value: true }, { type: c.CKA_SENSITIVE, value: true }, { type: c.CKA_EXTRACTABLE, value: false },
          { type: c.CKA_SIGN, value: true }, { type: c.CKA_DERIVE, value: false }, { type: c.CKA_DECRYPT, value: false },
        ]);
        const [point] = m.C_GetAttributeValue(session, pair.publicKey, [{ type: c.CKA_EC_POINT }]);
        handles.set(objectId.toString('hex'), pair.privateKey);
        return p256PublicKeyBlob(ecPoint(point!.value));
      });
    },

    signer(objectIdHex, publicKeyBlob): SshSigner {
      return {
        algorithm: ECDSA_P256,
        publicKeyBlob,
        sign: async (data) => {
          // CKM_ECDSA signs a digest: SHA-256 here, as ecdsa-sha2-nistp256 requires.
          const digest = createHash('sha256').update(data).digest();
          const rs = await inSession('sign', async (m, c, session) => {
            const started = process.hrtime.bigint();
            m.C_SignInit(session, { mechanism: c.CKM_ECDSA }, privateKey(m, c, session, objectIdHex));
            const signature = await m.C_SignAsync(session, digest, Buffer.alloc(64));
            report.signed?.(Number(process.hrtime.bigint() - started) / 1e9);
            return signature;
          });
          return p256SignatureBlob(rs);
        },
      };
    },

    async keyAttributes(objectIdHex) {
      return inSession('attributes', async (m, c, session) => {
        const handle = privateKey(m, c, session, objectIdHex);
        const types = { token: c.CKA_TOKEN, private: c.CKA_PRIVATE, sensitive: c.CKA_SENSITIVE, extractable: c.CKA_EXTRACTABLE,
          alwaysSensitive: c.CKA_ALWAYS_SENSITIVE, neverExtractable: c.CKA_NEVER_EXTRACTABLE, sign: c.CKA_SIGN } as const;
        const names = Object.keys(types) as (keyof typeof types)[];
        const values = m.C_GetAttributeValue(session, handle, [...names.map((n) => ({ type: types[n] })), { type: c.CKA_LABEL }]);
        const flags = Object.fromEntries(names.map((n, i) => [n, values[i]!.value[0] === 1]));
        return { ...flags, label: values[names.length]!.value.toString('utf8') } as TokenKeyAttributes;
      });
    },

    async destroyKey(objectIdHex) {
      await inSession('destroy', async (m, c, session) => {
        const id = Buffer.from(objectIdHex, 'hex');
        for (const cls of [c.CKO_PRIVATE_KEY, c.CKO_PUBLIC_KEY]) {
          const handle = find(m, c, session, id, cls);
          if (handle) m.C_DestroyObject(session, handle);
        }
        handles.delete(objectIdHex);
      });
    },

    async close() {
      if (!p11) return;
      if (connected) {
        try { p11.C_CloseAllSessions(connected.slot); } catch { /* gone */ }
        connected = undefined;
      }
      try { if (initialized) p11.C_Finalize(); } catch { /* gone */ }
      try { p11.close(); } catch { /* gone */ }
      p11 = undefined;
      initialized = false;
    },
  };
}

/** The label of the token in `slot`, or undefined when it cannot be read (a token going away fails here). */
function labelIn(m: PKCS11, slot: Handle): string | undefined {
  try {
    return m.C_GetTokenInfo(slot).label.trim();
  } catch {
    return undefined;
  }
}

/** CKA_EC_POINT is a DER OCTET STRING around 0x04 ‖ X ‖ Y; some modules give the bare point. */
function ecPoint(value: Buffer): Buffer {
  if (value.length === 67 && value[0] === 0x04 && value[1] === 0x41) return value.subarray(2);
  return value;
}
