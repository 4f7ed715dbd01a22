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
