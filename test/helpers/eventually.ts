/**
 * Polls `check` every 50 ms until it returns something other than undefined, and returns that; throws,
 * naming `what`, after `ms`. For effects that follow an answer by design (the audit stream's late rows,
 * a reopened file), never for ones the answer promises.
 */
export async function eventually<T>(what: string, check: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const found = check();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
