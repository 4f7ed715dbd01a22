import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CompiledQuery, PostgresAdapter } from 'kysely';
import type { Db } from '../platform/db/schema.ts';
import { createBatchWriter } from '../platform/db/batch-writer.ts';
import { errors } from '../platform/http/errors.ts';
import { failure } from '../platform/http/envelope.ts';
import { CDN_CGI_PREFIX } from '../platform/http/error-handler.ts';
import type { AuditStreamMetrics } from '../observability/metrics.ts';
import type { AuditRow } from './audit-log.ts';
import type { AuditFile } from './audit-stream-file.ts';
import type { SyslogCopy } from './audit-stream-syslog.ts';
import { runCapturing, takeStrays, type AuditCapture } from '../platform/audit-stream-capture.ts';

/** The `stream` field of every line: raised if a field ever changes meaning or goes away (new fields do not raise it). */
export const AUDIT_STREAM_VERSION = 1;

/** Where the lines go: the file, which acknowledges them, and an optional best-effort syslog copy. */
export interface AuditOutputs {
  file: Pick<AuditFile, 'append'>;
  syslog?: Pick<SyslogCopy, 'send'> | undefined;
}

/** How often rows that were not written with an answer (strays, late commits, a failed write) are tried again. */
const RETRY_MS = 1000;
/** A row not committed after this long was rolled back (or is another store's): it is forgotten. */
const UNCOMMITTED_FORGOTTEN_MS = 5 * 60_000;
/** Rows kept for a later write at most; beyond, the oldest are dropped (logged and counted). */
const MAX_UNWRITTEN = 100_000;
/** Ids per `select … where id in (…)`. */
const CHECK_CHUNK = 500;

/**
 * `select id from audit_events where id in (…)` for `n` ids, as text: this runs before every answer that
 * made an event, and building and compiling it through Kysely cost more than running it.
 */
function committedQueryText(n: number, postgres: boolean): string {
  return `select id from audit_events where id in (${Array.from({ length: n }, (_, i) => (postgres ? `$${i + 1}` : '?')).join(', ')})`;
}

/** The row's `data` as the object it holds; text that is not JSON (never written so) stays text rather than stop the stream. */
function parsedData(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

/**
 * One event as a line of the stream: the audit row's fields, `data` as the object it holds, and the
 * stream's version. Nothing else: no request body or header reaches it, and the row's `data` never holds
 * a secret (AuditEntry.data).
 */
export function auditLine(row: AuditRow): string {
  const event = {
    stream: AUDIT_STREAM_VERSION, id: row.id, account_id: row.account_id, type: row.type, actor: row.actor,
    subject: row.subject, data: parsedData(row.data), created_at: row.created_at,
  };
  return `${JSON.stringify(event)}\n`;
}

interface Unwritten {
  row: AuditRow;
  /** When the stream learnt of it (performance.now()). */
  since: number;
  /** Seen in the store: it is never forgotten, only written (or dropped past MAX_UNWRITTEN). */
  committed: boolean;
}

/**
 * The stream of one app. `publish` takes rows made while answering a request and resolves once those
 * committed are in the file: rows of requests answered together are checked in one query and written in
 * one append (group commit). A row never committed is never written. Rows it cannot write now (made
 * outside a request, committed after the answer, or whose write failed) are tried again every second.
 */
export function createAuditStream(deps: { db: Db; outputs: AuditOutputs; metrics: AuditStreamMetrics; log: FastifyBaseLogger }) {
  const { db, outputs, metrics, log } = deps;
  /** Every row learnt of and not yet in the file, oldest first; only rows still here are written (never twice). */
  const unwritten = new Map<string, Unwritten>();
  let failing = false;

  function keep(row: AuditRow): void {
    if (unwritten.has(row.id)) return;
    if (unwritten.size >= MAX_UNWRITTEN) {
      const [id, oldest] = unwritten.entries().next().value!;
      unwritten.delete(id);
      metrics.auditWriteFailed('file');
      log.error({ event_id: id, type: oldest.row.type, committed: oldest.committed }, `audit stream: more than ${MAX_UNWRITTEN} events wait to be written; the oldest is dropped from the stream (it stays in the store)`);
    }
    unwritten.set(row.id, { row, since: performance.now(), committed: false });
  }

  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const texts = new Map<number, string>();
  async function committedIds(ids: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += CHECK_CHUNK) {
      const chunk = ids.slice(i, i + CHECK_CHUNK);
      let text = texts.get(chunk.length);
      if (text === undefined) texts.set(chunk.length, (text = committedQueryText(chunk.length, postgres)));
      const { rows } = await db.executeQuery<{ id: string }>(CompiledQuery.raw(text, chunk));
      for (const r of rows) found.add(r.id);
    }
    return found;
  }

  async function write(batches: string[][]): Promise<void> {
    const entries = [...new Set(batches.flat())].flatMap((id) => unwritten.get(id) ?? []);
    if (entries.length === 0) return;
    const committed = await committedIds(entries.map((e) => e.row.id));
    const ready = entries.filter((e) => committed.has(e.row.id));
    if (ready.length === 0) return;
    for (const e of ready) e.committed = true;
    const text = ready.map((e) => auditLine(e.row)).join('');
    try {
      await outputs.file.append(text);
    } catch (error) {
      metrics.auditWriteFailed('file');
      if (!failing) log.error({ err: error }, 'audit stream: the file cannot be written; requests that make events are refused (503) until it can');
      failing = true;
      throw error;
    }
    if (failing) log.warn('audit stream: the file is written again');
    failing = false;
    for (const e of ready) unwritten.delete(e.row.id);
    metrics.auditLinesWritten('file', ready.length);
    if (!outputs.syslog) return;
    if (outputs.syslog.send(text)) metrics.auditLinesWritten('syslog', ready.length);
    else metrics.auditWriteFailed('syslog');
  }

  const writer = createBatchWriter<string[]>(write);
  const stopStrays = takeStrays(keep);

  let retrying = false;
  function retry(all: boolean): Promise<void> {
    const now = performance.now();
    const due: string[] = [];
    for (const [id, e] of unwritten) {
      if (!e.committed && now - e.since > UNCOMMITTED_FORGOTTEN_MS) unwritten.delete(id);
      else if (all || now - e.since >= RETRY_MS) due.push(id);
    }
    if (due.length === 0) return Promise.resolve();
    retrying = true;
    return writer.submit(due).catch(() => {}).finally(() => {
      retrying = false;
    });
  }
  const timer = setInterval(() => {
    if (!retrying && unwritten.size > 0) void retry(false);
  }, RETRY_MS);
  timer.unref();

  return {
    /** Streams the rows an answer reports; rejects if those committed could not be written. */
    publish(rows: AuditRow[]): Promise<void> {
      for (const row of rows) keep(row);
      return writer.submit(rows.map((r) => r.id));
    },
    /** Tries once more to write what is left, then stops taking rows. */
    async close(): Promise<void> {
      clearInterval(timer);
      stopStrays();
      await retry(true);
      await writer.drain();
      const lost = [...unwritten.values()].filter((e) => e.committed).length;
      if (lost > 0) log.error({ events: lost }, 'audit stream: events committed to the store could not be written to the file before the server stopped');
    },
  };
}

/** The 503 that replaces an answer whose events could not be streamed, in the envelope its route speaks. */
function refuse(request: FastifyRequest, reply: FastifyReply): string {
  const error = errors.auditLogUnavailable();
  for (const name of ['content-length', 'etag', 'last-modified', 'location']) reply.removeHeader(name);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  reply.code(error.status).type('application/json');
  const cdnCgi = (request.raw.url ?? '').startsWith(`${CDN_CGI_PREFIX}/`);
  return JSON.stringify(cdnCgi ? { status: error.status, message: error.message } : failure(error.items));
}

/**
 * `serve --audit-log`: every audit row made while answering a request is noted in the request's capture
 * (noteAuditRow); before the answer leaves (onSend, for successes and errors alike), the rows the store
 * committed are appended to the file, and only then does the answer go, so no answer reports an event
 * that is not in the file. If they cannot be written, the answer is replaced by 503 (retry-after): the
 * event may have happened, but it is not acknowledged. Without outputs, nothing is registered.
 * Register on the root instance before any route, so the hooks see every route.
 */
export function registerAuditStream(app: FastifyInstance, deps: { db: Db; outputs?: AuditOutputs | undefined; metrics: AuditStreamMetrics }): void {
  if (!deps.outputs) return;
  const stream = createAuditStream({ db: deps.db, outputs: deps.outputs, metrics: deps.metrics, log: app.log });
  const captures = new WeakMap<FastifyRequest, AuditCapture>();
  app.addHook('onRequest', (request, _reply, done) => {
    const capture: AuditCapture = { rows: [], open: true };
    captures.set(request, capture);
    runCapturing(capture, () => done());
  });
  // The handler runs from the request body's 'end' event, in the context the socket's events carry, not
  // the one opened above: the capture is entered again (as @fastify/request-context does).
  app.addHook('preValidation', (request, _reply, done) => {
    const capture = captures.get(request);
    if (capture) runCapturing(capture, () => done());
    else done();
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const capture = captures.get(request);
    if (!capture?.open) return payload;
    capture.open = false;
    if (capture.rows.length === 0) return payload;
    try {
      await stream.publish(capture.rows);
      return payload;
    } catch (error) {
      request.log.error({ err: error }, 'the request\'s audit events could not be written to the audit log: answered 503');
      return refuse(request, reply);
    }
  });
  app.addHook('onClose', () => stream.close());
}
