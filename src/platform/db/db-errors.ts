/** True when a write failed on a UNIQUE or PRIMARY KEY constraint, on SQLite or PostgreSQL. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/** True when a write referenced a row that no longer exists. */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503';
}

/** The store did not answer within its bound (a revision read, a wait for a pooled connection). */
export class StoreTimeoutError extends Error {
  override name = 'StoreTimeoutError';
  readonly code = 'STORE_TIMEOUT';
}

/**
 * True when the store did not answer in time: our own bound, or a PostgreSQL connect past its bound
 * (pg's client and pool give those no code, only these messages).
 */
export function isStoreTimeout(error: unknown): boolean {
  if (error instanceof StoreTimeoutError) return true;
  const message = error instanceof Error ? error.message : '';
  return message === 'timeout exceeded when trying to connect' || message === 'Connection terminated due to connection timeout' || message === 'timeout expired';
}

/**
 * A foreign key that no longer holds for a row being written: what it names was deleted meanwhile. On
 * PostgreSQL the other side — deleting a row still referenced — is a different message and not this.
 */
export function isDanglingReference(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return true;
  return code === '23503' && error instanceof Error && error.message.startsWith('insert or update on table');
}

/**
 * Why the store could not serve a request, when that is the store's state and not the request's fault:
 * what a client should retry (503 with retry-after) and an operator should be told about once.
 */
export type StoreFailure =
  /** No connection: refused, reset, terminated, unreachable, or the pool's own connect timed out. */
  | 'unreachable'
  /** The server is shutting down, crashed, or starting (57P01, 57P02, 57P03). */
  | 'shutting_down'
  /** Too many connections or out of memory (53300, 53200). */
  | 'overloaded'
  /** No space left to write (PostgreSQL 53100, SQLITE_FULL). */
  | 'disk_full'
  /** The store takes no writes: a standby after failover (25006), a read-only SQLite file. */
  | 'read_only'
  /** The disk failed a read or write (SQLITE_IOERR*, SQLITE_CANTOPEN). */
  | 'io_error'
  /** Another writer held the store past the busy timeout (SQLITE_BUSY*). */
  | 'busy'
  /** Our own bound on an answer passed (a revision read, a wait for a pooled connection). */
  | 'timeout';

export const STORE_FAILURES: readonly StoreFailure[] = ['unreachable', 'shutting_down', 'overloaded', 'disk_full', 'read_only', 'io_error', 'busy', 'timeout'];

const POSTGRES_CODES: Record<string, StoreFailure> = {
  '57P01': 'shutting_down', '57P02': 'shutting_down', '57P03': 'shutting_down',
  '53300': 'overloaded', '53200': 'overloaded', '53100': 'disk_full', '25006': 'read_only',
  // Class 08: connection exceptions.
  '08000': 'unreachable', '08001': 'unreachable', '08003': 'unreachable', '08004': 'unreachable', '08006': 'unreachable',
};

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** pg's own messages for a connection that went away; it gives them no code. */
const CONNECTION_GONE = [
  'Connection terminated unexpectedly', 'Connection terminated', 'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable', 'Cannot use a pool after calling end on the pool',
];

/** The class of a store failure, or null when the error is something else (a bug, a constraint, a bad query). */
export function classifyStoreFailure(error: unknown): StoreFailure | null {
  if (isStoreTimeout(error)) return 'timeout';
  const code = String((error as { code?: unknown })?.code ?? '');
  const postgres = POSTGRES_CODES[code];
  if (postgres) return postgres;
  if (NETWORK_CODES.has(code)) return 'unreachable';
  if (code === 'SQLITE_FULL') return 'disk_full';
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) return 'io_error';
  if (code.startsWith('SQLITE_READONLY')) return 'read_only';
  if (code.startsWith('SQLITE_BUSY')) return 'busy';
  const message = error instanceof Error ? error.message : '';
  if (CONNECTION_GONE.includes(message)) return 'unreachable';
  // An AggregateError of connection attempts (one per address of a host name).
  if (error instanceof AggregateError && error.errors.length > 0 && error.errors.every((e) => classifyStoreFailure(e) === 'unreachable')) return 'unreachable';
  return null;
}

/** PostgreSQL's serialization failure and deadlock: the transaction can be run again as it was. */
export function isRetryableConflict(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '40001' || code === '40P01';
}
