/** What the append writer's thread may insert into: the hot path's append-only rows, nothing else. */
export const APPEND_TABLES: readonly string[] = ['ssh_certificates', 'audit_events'];

export type AppendValue = string | number | null;

/** One transaction's rows, in order. */
export interface AppendRequest {
  id: number;
  rows: { table: string; row: Record<string, AppendValue> }[];
}

/**
 * Main thread → writer: every request made in one turn of the event loop, as one JSON string. One message
 * per turn instead of one per request, and a string instead of objects: both structured-clone and waking
 * the other thread cost more than the insert they carry.
 */
export type AppendMessage = string;

/** Requests in one message at most: the writer thread's bound on one transaction. */
export const APPEND_MESSAGE_MAX = 500;

/** Writer → main thread: one message per group commit. */
export interface AppendReply {
  /** Committed. */
  ids: number[];
  /** Refused, each with SQLite's error (the rest of their commit was written without them). */
  failed: { id: number; error: { message: string; code: string } }[];
  /** The group commit: how many requests shared it and how long it took, in seconds. */
  commit: { size: number; seconds: number };
}
