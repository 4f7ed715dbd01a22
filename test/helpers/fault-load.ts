import { parseCertificate } from '../../src/openssh/certificate.ts';
import type { Db } from '../../src/platform/db/schema.ts';
import assert from 'node:assert/strict';
import { prepareSigning, userKey, type Signing } from './deployment.ts';
import { startServer, type ServerProcess } from './server-process.ts';

/**
 * How long a fault test's client waits for an answer. Far above any bound the server promises: it only
 * turns a hang into a failure the test reports (tests never assert on time).
 */
export const NO_ANSWER_MS = 60_000;

/** What a fault test saw of its requests. */
export interface Tally {
  ok: number;
  /** 503 in the contract's shape (the v4 envelope with 10503, or cloudflared's `{status, message}`), with retry-after. */
  unavailable: number;
  s500: number;
  /** Any other answer, a 503 not in the contract's shape included. */
  other: number;
  /** No answer within NO_ANSWER_MS, or the connection to the server failed. */
  noAnswer: number;
  /** The first few answers that were neither 200 nor the contract's 503, described. */
  wrong: string[];
  /** When each answer arrived and whether it succeeded (for the time to recover). */
  timeline: { at: number; ok: boolean }[];
}

export const newTally = (): Tally => ({ ok: 0, unavailable: 0, s500: 0, other: 0, noAnswer: 0, wrong: [], timeline: [] });

/** Everything but 200 and the contract's 503: what must stay zero under a store fault. */
export const faults = (t: Tally) => t.s500 + t.other + t.noAnswer;

/** The contract's answer for a store that does not answer: in which of the two shapes, and why not when it is not. */
function notStoreUnavailable(headers: Headers, body: any, shape: 'v4' | 'cdn-cgi'): string | null {
  if (!/^[1-9][0-9]*$/.test(headers.get('retry-after') ?? '')) return 'no retry-after';
  const message: unknown = shape === 'v4' ? body?.errors?.[0]?.message : body?.message;
  if (typeof message !== 'string' || !/^The store .*; retry the request$/.test(message)) return 'not the store\'s message';
  if (shape === 'cdn-cgi') return Object.keys(body).sort().join() === 'message,status' && body.status === 503 ? null : 'not {status, message}';
  const envelope = body?.success === false && body.result === null && Array.isArray(body.messages) && body.errors?.length === 1 && body.errors[0].code === 10503;
  return envelope ? null : 'not the v4 envelope with 10503';
}

/** Counts one answer; true when it was a 200. */
export function judge(tally: Tally, status: number, headers: Headers, body: unknown, shape: 'v4' | 'cdn-cgi'): boolean {
  tally.timeline.push({ at: Date.now(), ok: status === 200 });
  if (status === 200) {
    tally.ok++;
    return true;
  }
  const why = status === 503 ? notStoreUnavailable(headers, body, shape) : `status ${status}`;
  if (why === null) tally.unavailable++;
  else {
    if (status === 500) tally.s500++;
    else tally.other++;
    if (tally.wrong.length < 5) tally.wrong.push(`${status} (${why}): ${JSON.stringify(body).slice(0, 200)}`);
  }
  return false;
}

/** A request that got no answer at all. */
function noAnswer(tally: Tally, error: unknown): void {
  tally.noAnswer++;
  tally.timeline.push({ at: Date.now(), ok: false });
  if (tally.wrong.length < 5) tally.wrong.push(`no answer: ${(error as Error).message}`);
}

/**
 * One certificate through cloudflared's cert_sign, judged; an issued one is added to `acknowledged` (id to
 * serial).
 */
export async function signJudged(origin: string, jwt: string, tally: Tally, acknowledged: Map<string, string>): Promise<boolean> {
  try {
    const r = await fetch(`${origin}/cdn-cgi/access/cert_sign`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key: userKey(), jwt }),
      signal: AbortSignal.timeout(NO_ANSWER_MS),
    });
    const body = (await r.json()) as any;
    if (!judge(tally, r.status, r.headers, body, 'cdn-cgi')) return false;
    acknowledged.set(body.id, parseCertificate(Buffer.from(String(body.certificate).split(' ')[1]!, 'base64')).serial.toString());
    return true;
  } catch (error) {
    noAnswer(tally, error);
    return false;
  }
}

/** One v4 API call with the admin token, judged; its envelope when it answered. */
export async function v4Judged(base: string, token: string, method: string, path: string, tally: Tally, body?: unknown): Promise<any> {
  try {
    const r = await fetch(`${base}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body), signal: AbortSignal.timeout(NO_ANSWER_MS),
    });
    const json = (await r.json()) as any;
    judge(tally, r.status, r.headers, json, 'v4');
    return json;
  } catch (error) {
    noAnswer(tally, error);
    return undefined;
  }
}

/** A real `serve` that signs: an identity provider, an Access policy allowing everyone, one application and its CA. */
export interface SigningNode {
  server: ServerProcess;
  signing: Signing;
  appId: string;
  /** The application's audience, for the JWTs cert_sign takes. */
  aud: string;
}

/** Starts one; its end (SIGKILL, and the provider's close) is handed to `after` as soon as the server runs. */
export async function startSigningNode(after: (fn: () => Promise<void>) => void, opts: { env?: Record<string, string>; dataDir?: string } = {}): Promise<SigningNode> {
  const env = opts.env ?? {};
  // At info, for the store-health lines that end an outage (outageLog).
  const server = await startServer({ env: { ACCESS_CA_LOG_LEVEL: 'info', ...env }, ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) });
  let signing: Signing | undefined;
  after(async () => {
    await server.stop('SIGKILL');
    await signing?.idp.close();
  });
  signing = await prepareSigning(server, env);
  const { accountId, token, base } = server;
  const app = await v4Judged(base, token, 'POST', `/accounts/${accountId}/access/apps`, newTally(), { name: 'sign', domain: 'sign.example.com', policies: [signing.everyone] });
  assert.ok(app?.success, JSON.stringify(app));
  const ca = await v4Judged(base, token, 'POST', `/accounts/${accountId}/access/apps/${app.result.id}/ca`, newTally());
  assert.ok(ca?.success, JSON.stringify(ca));
  return { server, signing, appId: app.result.id, aud: app.result.aud };
}

/** Milliseconds from `since` to the first success answered after it, or null when none was. */
export function firstSuccessAfter(since: number, ...tallies: Tally[]): number | null {
  const first = Math.min(...tallies.flatMap((t) => t.timeline.filter((a) => a.ok && a.at >= since).map((a) => a.at)));
  return Number.isFinite(first) ? first - since : null;
}

/** Polls until `seen` is true or `ms` have passed; whether it was seen. A bound on waiting, not an assertion on time. */
export async function until(seen: () => boolean, ms = 60_000): Promise<boolean> {
  for (const end = Date.now() + ms; !seen() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  return seen();
}

/** `clients` loops, each running `step` until stopped, with a short pause after a failed step. */
export function steadyLoad(clients: number, step: (client: number) => Promise<boolean>): { stop(): Promise<void> } {
  let running = true;
  const loops = Array.from({ length: clients }, async (_, client) => {
    while (running) if (!(await step(client))) await new Promise((r) => setTimeout(r, 20));
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Acknowledged certificates the store lacks (or holds with another serial), and rows written by halves:
 * a certificate without its `ssh_certificate.issued` event, or such an event without its certificate (the
 * two commit together).
 */
export async function inventoryCheck(db: Db, appId: string, acknowledged: Map<string, string>): Promise<{ missing: number; halves: number; stored: number }> {
  const certs = await db.selectFrom('ssh_certificates').select(['id', 'serial']).where('app_id', '=', appId).execute();
  const stored = new Map(certs.map((c) => [c.id, c.serial]));
  const missing = [...acknowledged].filter(([id, serial]) => stored.get(id) !== serial).length;
  const issued = db.selectFrom('audit_events').select('subject').where('type', '=', 'ssh_certificate.issued');
  const unevented = await db.selectFrom('ssh_certificates').select('id').where('app_id', '=', appId).where('id', 'not in', issued).execute();
  const orphans = await issued.where('subject', 'not in', db.selectFrom('ssh_certificates').select('id')).execute();
  const halves = unevented.length + orphans.length;
  return { missing, halves, stored: certs.length };
}

/** One line of figures for t.diagnostic. */
export function figures(name: string, t: Tally): string {
  return `${name}: ${t.ok} acknowledged, ${t.unavailable} answered 503 (store unavailable, retry-after), ${t.s500} answered 500, ${t.other} other, ${t.noAnswer} unanswered`;
}

/**
 * The server's store-health log (pino JSON on stdout, at info): `store.unavailable` error lines by class,
 * outages (each ended by one `store.recovered` line, or still going), the classes logged more than once
 * within one outage (the log must say each once), and `store.outage` warns.
 */
export function outageLog(stdout: string): { unavailable: Record<string, number>; outages: number; repeated: string[]; warns: number; line: string } {
  const unavailable: Record<string, number> = {};
  const repeated: string[] = [];
  let outages = 0;
  let warns = 0;
  let current: Set<string> | null = null;
  for (const text of stdout.split('\n')) {
    let entry: { event?: string; class?: string };
    try {
      entry = JSON.parse(text) as typeof entry;
    } catch {
      continue;
    }
    if (entry.event === 'store.unavailable') {
      const kind = entry.class ?? '?';
      unavailable[kind] = (unavailable[kind] ?? 0) + 1;
      if (current === null) [current, outages] = [new Set(), outages + 1];
      if (current.has(kind)) repeated.push(kind);
      current.add(kind);
    }
    if (entry.event === 'store.recovered') current = null;
    if (entry.event === 'store.outage') warns++;
  }
  return { unavailable, outages, repeated, warns, line: `log: ${outages} outage(s), store.unavailable error lines by class ${JSON.stringify(unavailable)}, ${warns} store.outage warn line(s)` };
}
