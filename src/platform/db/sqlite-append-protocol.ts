/** What the append writer's thread may insert into: the hot path's append-only rows, nothing else. */
export const APPEND_TABLES: readonly string[] = ['ssh_certificates', 'audit_events'];

export type AppendValue = string | number | bigint | null;

/** One transaction's rows, in order. */
export interface AppendRequest {
  id: number;
  rows: { table: string; row: Record<string, AppendValue> }[];
}

export interface AppendReply {
  id: number;
  error?: { message: string; code: string };
  /** The group commit that wrote it: how many requests shared it and how long it took, in seconds. */
  commit?: { id: number; size: number; seconds: number };
}
