import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { STORE_FAILURES, type StoreFailure } from '../platform/db/db-errors.ts';
import type { ErrorCode } from '../platform/http/errors.ts';
import { processMetricsRegistry } from './process-metrics.ts';
import { SIGNER_FAILURES, type SignerObserver } from '../signers/ca-key-token.ts';

/** Why a certificate was not issued: a fixed set, so the label's values are known in advance. */
export const CERT_REFUSAL_REASONS = [
  'token_rejected', // the identity token or API token did not verify (signature, issuer, audience, time, claims)
  'app_unknown', // no application matches the token's audience or the hostname
  'identity_unverified', // the provider does not vouch for the email (email_verified, email domains)
  'access_denied', // no Access policy allows the person
  'certificate_policy', // the certificate policy refused (principals, lifetime, options)
  'key_rejected', // the public key is malformed, weak or revoked
  'rate_limited', // too many refusals for this person or client
  'invalid_request', // the request itself is malformed
  'error', // a fault on our side
] as const;
export type CertRefusalReason = (typeof CERT_REFUSAL_REASONS)[number];

/** What the certificate hot path, its caches and its writer report; every call is a few map lookups. */
export interface HotPathMetrics {
  /** One certificate issued for a known application. */
  certificateIssued(appId: string): void;
  /** One certificate refused; `appId` only once the application is known, `'unknown'` before. */
  certificateRefused(appId: string, reason: CertRefusalReason): void;
  /** An authentication refused with this catalog code (the v4 API's credentials). */
  authFailure(code: ErrorCode): void;
  /** A read served from the named in-memory cache; the name is a constant in code, never request data. */
  cacheHit(cache: string): void;
  /** A read the named cache could not serve. */
  cacheMiss(cache: string): void;
  /** One group commit: how many records it wrote and how long the commit took, in seconds. */
  groupCommit(batchSize: number, seconds: number): void;
}

/** Where `serve --audit-log` sends its lines: the file (the acknowledged record) or the syslog copy. */
export type AuditStreamOutput = 'file' | 'syslog';

/** What the audit stream reports (audit/audit-stream.ts). */
export interface AuditStreamMetrics {
  /** Lines written to an output. */
  auditLinesWritten(output: AuditStreamOutput, lines: number): void;
  /** A write that failed (file) or lines that were dropped (syslog). */
  auditWriteFailed(output: AuditStreamOutput): void;
}

/** What the store's health reports (platform/db/store-health.ts, wired in app.ts). */
export interface StoreHealthMetrics {
  /** A request refused with 503 because of the store, by the failure's class. */
  storeFailed(kind: StoreFailure): void;
  /** The store's state changed: available (a write committed) or not (the first failure of an outage). */
  storeAvailable(available: boolean): void;
}

/** The whole set: the hot path's counters, the per-request observation, and the exposition. */
export interface Metrics extends HotPathMetrics, AuditStreamMetrics, StoreHealthMetrics, SignerObserver {
  /** One answered HTTP request: the route's pattern (never the raw URL), method, status, duration. */
  observeRequest(route: string | undefined, method: string, status: number, seconds: number): void;
  /** The Prometheus text exposition of this app's metrics and the process's. */
  exposition(): Promise<string>;
  /** The exposition's Content-Type. */
  readonly contentType: string;
}

/** Metrics that go nowhere: for code paths and tests that are given none. */
export const noMetrics: HotPathMetrics = {
  certificateIssued() {},
  certificateRefused() {},
  authFailure() {},
  cacheHit() {},
  cacheMiss() {},
  groupCommit() {},
};

const PREFIX = 'access_ca_';
/** Route label of a request no route matched: one series, whatever the URL was. */
export const UNMATCHED_ROUTE = 'unmatched';
/** At most this many apps get a series of their own; later ones share `other` until the process restarts. */
const MAX_APP_LABELS = 1000;
const MAX_CACHE_LABELS = 32;
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CACHE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

/**
 * A label value from a set that only code should be able to grow, bounded anyway: a value of the wrong
 * shape becomes `fallback`, and once `max` values are in use, new ones become `other`.
 */
function boundedLabel(shape: RegExp, max: number, fallback: string) {
  const seen = new Set<string>();
  return (value: string): string => {
    if (seen.has(value)) return value;
    if (!shape.test(value)) return fallback;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}

/** One labelled series of a counter, counted in a plain number until the next scrape hands it over. */
interface Tally {
  n: number;
}

/**
 * Counters whose increments cost a field write: prom-client's own `inc` hashes the label set on every
 * call (≈ 0.5 µs), so each series is tallied here and given to prom-client by the counter's `collect`,
 * which runs at every scrape before the counter is read.
 */
function tallies() {
  const all: { tally: Tally; child: { inc(value: number): void } }[] = [];
  return {
    collect(): void {
      for (const { tally, child } of all) {
        if (tally.n === 0) continue;
        child.inc(tally.n);
        tally.n = 0;
      }
    },
    of(child: { inc(value: number): void }): Tally {
      const tally = { n: 0 };
      all.push({ tally, child });
      return tally;
    },
  };
}

/** prom-client's bound children, remembered by key, so a steady state allocates no label objects. */
function children<K, C>(make: (key: K) => C) {
  const made = new Map<K, C>();
  return (key: K): C => {
    let child = made.get(key);
    if (child === undefined) {
      child = make(key);
      made.set(key, child);
    }
    return child;
  };
}

/**
 * Makes the metrics of one app over a registry of its own (never prom-client's global one), so several
 * apps in one process do not collide; the process metrics (event-loop lag among them) are shared.
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const counted = tallies();
  const collect = counted.collect;

  const requests = new Counter({
    name: `${PREFIX}http_requests_total`, help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const, registers, collect,
  });
  const durations = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`, help: 'Time from receiving a request to sending its answer, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const, registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const issued = new Counter({
    name: `${PREFIX}certificates_issued_total`, help: 'SSH certificates issued, by application.',
    labelNames: ['app'] as const, registers, collect,
  });
  const refused = new Counter({
    name: `${PREFIX}certificates_refused_total`, help: 'SSH certificate requests refused, by application (unknown before it is found) and reason.',
    labelNames: ['app', 'reason'] as const, registers, collect,
  });
  const authFailures = new Counter({
    name: `${PREFIX}auth_failures_total`, help: 'API authentications refused, by error code.',
    labelNames: ['code'] as const, registers, collect,
  });
  const hits = new Counter({
    name: `${PREFIX}cache_hits_total`, help: 'Reads served from an in-memory cache, by cache.',
    labelNames: ['cache'] as const, registers, collect,
  });
  const misses = new Counter({
    name: `${PREFIX}cache_misses_total`, help: 'Reads an in-memory cache could not serve, by cache.',
    labelNames: ['cache'] as const, registers, collect,
  });
  const batchSizes = new Histogram({
    name: `${PREFIX}group_commit_batch_size`, help: 'Records written by one group commit.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers,
  });
  const commitSeconds = new Histogram({
    name: `${PREFIX}group_commit_seconds`, help: 'Time one group commit took, durable write included.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers,
  });
  const auditLines = new Counter({
    name: `${PREFIX}audit_stream_lines_total`, help: 'Audit events written by serve --audit-log, by output (file, syslog).',
    labelNames: ['output'] as const, registers, collect,
  });
  const auditFailures = new Counter({
    name: `${PREFIX}audit_stream_write_errors_total`, help: 'Audit stream writes that failed (file: the request was refused with 503) or lines dropped (syslog), by output.',
    labelNames: ['output'] as const, registers, collect,
  });
  const signerSeconds = new Histogram({
    name: `${PREFIX}signer_seconds`, help: 'Time one signature took in the PKCS#11 token, from taking a session to its result.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers,
  });
  const signerErrors = new Counter({
    name: `${PREFIX}signer_errors_total`, help: 'PKCS#11 token signatures and key operations that failed, by kind (busy: past the queue bound; unavailable: module, token or PIN; key_missing; error).',
    labelNames: ['kind'] as const, registers, collect,
  });
  const storeErrors = new Counter({
    name: `${PREFIX}store_errors_total`, help: 'Requests refused with 503 because the store failed, by class (unreachable, shutting_down, overloaded, disk_full, read_only, io_error, busy, timeout).',
    labelNames: ['class'] as const, registers, collect,
  });
  const storeUp = new Gauge({
    name: `${PREFIX}store_available`, help: '1 while the store answers and writes commit; 0 from the first failed request of an outage until a write commits again.',
    registers,
  });
  storeUp.set(1);
  const exposed = Registry.merge([registry, processMetricsRegistry()]);

  // Route patterns and statuses are finite, and Node's parser takes only known methods: this stays small.
  const perRoute = children((route: string) => children((method: string) => children((status: number) => {
    const labels = [route, method, String(status)] as const;
    return { count: counted.of(requests.labels(...labels)), duration: durations.labels(...labels) };
  })));
  const appLabel = boundedLabel(APP_ID, MAX_APP_LABELS, 'unknown');
  const cacheLabel = boundedLabel(CACHE_NAME, MAX_CACHE_LABELS, 'other');
  const issuedFor = children((app: string) => counted.of(issued.labels(app)));
  const refusedFor = children((app: string) => children((reason: CertRefusalReason) => counted.of(refused.labels(app, reason))));
  const authFailureFor = children((code: ErrorCode) => counted.of(authFailures.labels(String(code))));
  const hitsFor = children((cache: string) => counted.of(hits.labels(cache)));
  const missesFor = children((cache: string) => counted.of(misses.labels(cache)));
  const reasons: ReadonlySet<string> = new Set(CERT_REFUSAL_REASONS);
  const auditLinesTo = children((output: AuditStreamOutput) => counted.of(auditLines.labels(output)));
  // Every class is a series from the start, so a rate() sees the first failure of an outage.
  const storeErrorsOf = new Map(STORE_FAILURES.map((kind) => [kind, counted.of(storeErrors.labels(kind))]));
  for (const kind of STORE_FAILURES) storeErrors.labels(kind).inc(0);
  const signerErrorsOf = new Map(SIGNER_FAILURES.map((kind) => [kind, counted.of(signerErrors.labels(kind))]));
  for (const kind of SIGNER_FAILURES) signerErrors.labels(kind).inc(0);
  const auditFailuresOf = children((output: AuditStreamOutput) => counted.of(auditFailures.labels(output)));

  return {
    observeRequest(route, method, status, seconds) {
      const child = perRoute(route ?? UNMATCHED_ROUTE)(method)(status);
      child.count.n++;
      child.duration.observe(seconds);
    },
    certificateIssued(appId) {
      issuedFor(appLabel(appId)).n++;
    },
    certificateRefused(appId, reason) {
      refusedFor(appLabel(appId))(reasons.has(reason) ? reason : 'error').n++;
    },
    authFailure(code) {
      authFailureFor(code).n++;
    },
    cacheHit(cache) {
      hitsFor(cacheLabel(cache)).n++;
    },
    cacheMiss(cache) {
      missesFor(cacheLabel(cache)).n++;
    },
    groupCommit(batchSize, seconds) {
      batchSizes.observe(batchSize);
      commitSeconds.observe(seconds);
    },
    auditLinesWritten(output, lines) {
      auditLinesTo(output).n += lines;
    },
    auditWriteFailed(output) {
      auditFailuresOf(output).n++;
    },
    storeFailed(kind) {
      const tally = storeErrorsOf.get(kind);
      if (tally) tally.n++;
    },
    storeAvailable(available) {
      storeUp.set(available ? 1 : 0);
    },
    signed(seconds) {
      signerSeconds.observe(seconds);
    },
    failed(kind) {
      const tally = signerErrorsOf.get(kind);
      if (tally) tally.n++;
    },
    exposition: () => exposed.metrics(),
    contentType: exposed.contentType,
  };
}
