/**
 * A pure function's results remembered by their input text, for inputs that clients send again and again
 * (cloudflared sends one token until it expires, and one key file for as long as it exists). Bounded in
 * entries and in input length; least recently used out; a throw is never remembered, so a bad input costs
 * its full price every time. Results are shared between callers: they must not be changed.
 */
export function lruMemo<V>(compute: (input: string) => V, options: { maxEntries: number; maxInputLength: number }): (input: string) => V {
  const seen = new Map<string, V>();
  return (input) => {
    const hit = seen.get(input);
    if (hit !== undefined) {
      // Least recently used out: an input in use stays while others pass through.
      seen.delete(input);
      seen.set(input, hit);
      return hit;
    }
    const value = compute(input);
    if (input.length <= options.maxInputLength) {
      seen.set(input, value);
      if (seen.size > options.maxEntries) seen.delete(seen.keys().next().value!);
    }
    return value;
  };
}
