/** Control characters a JSON body's text may not carry: NUL and C0 (tab, LF and CR aside), DEL and C1. */
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** How deep a request body may nest: every body access-ca takes is a few levels deep. */
export const MAX_BODY_DEPTH = 32;

const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Walks a parsed JSON body (iteratively, so depth cannot exhaust the stack) and returns why it is refused:
 * the JSON pointer of the first key or string holding a control character or an unpaired surrogate, or of
 * a value nested too deep. Such text would reach a certificate, a store, a log or a terminal.
 */
export function unsafeBodyText(body: unknown): { pointer: string; reason: string } | null {
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value: body, pointer: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, pointer, depth } = stack.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) return { pointer: pointer || '/', reason: 'text holds an unpaired surrogate' };
      if (UNSAFE.test(value)) return { pointer: pointer || '/', reason: 'text holds a control character' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_BODY_DEPTH) return { pointer: pointer || '/', reason: `nested deeper than ${MAX_BODY_DEPTH} levels` };
    for (const [key, child] of Object.entries(value)) {
      const at = `${pointer}/${escape(key)}`;
      if (!key.isWellFormed() || UNSAFE.test(key)) return { pointer: pointer || '/', reason: 'a field name holds a control character or an unpaired surrogate' };
      stack.push({ value: child, pointer: at, depth: depth + 1 });
    }
  }
  return null;
}
