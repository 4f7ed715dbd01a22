import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database } from './db/schema.ts';

type AuditRow = Database['audit_events'];

/** The audit rows one request made, gathered until its answer is about to leave (audit-stream.ts). */
export interface AuditCapture {
  rows: AuditRow[];
  /** Cleared once the answer's rows are taken: a row made later is a stray. */
  open: boolean;
}

const current = new AsyncLocalStorage<AuditCapture>();
/** Each running stream's intake for rows made outside any open capture (start-up work, a timer, after an answer). */
const strayIntakes = new Set<(row: AuditRow) => void>();

/**
 * Hands a row just made to whatever streams it: the request's capture, or else every stream's stray
 * intake. With no stream in the process (the CLI, a server without --audit-log) it costs one size check.
 */
export function noteForStreams(row: AuditRow): void {
  if (strayIntakes.size === 0) return;
  const capture = current.getStore();
  if (capture?.open) capture.rows.push(row);
  else for (const intake of strayIntakes) intake(row);
}

/** Runs `work` (and everything it starts) with `capture` as the place its audit rows are noted. */
export function runCapturing<T>(capture: AuditCapture, work: () => T): T {
  return current.run(capture, work);
}

/** Registers a stream's intake for stray rows; the function returned removes it. */
export function takeStrays(intake: (row: AuditRow) => void): () => void {
  strayIntakes.add(intake);
  return () => strayIntakes.delete(intake);
}
