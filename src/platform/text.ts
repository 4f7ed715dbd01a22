/**
 * Text that may reach a certificate, a store, a log or a terminal: well-formed Unicode with no control
 * or format characters (C0, DEL, C1, bidi overrides, zero-width marks) and no unpaired surrogates.
 */
export function isPrintableText(value: string): boolean {
  return value.isWellFormed() && !/\p{C}/u.test(value);
}

/** A JSON Schema `pattern` for the same rule, for TypeBox string fields: refused at the edge with a pointer. */
export const PRINTABLE_PATTERN = '^[^\\p{C}]*$';

/**
 * An email address as an identity: printable, one `@`, no spaces, bounded, and an ASCII domain (an
 * internationalized domain arrives in its xn-- form; Unicode there would let look-alikes match rules).
 */
export function isIdentityEmail(value: string): boolean {
  return value.length <= 320 && isPrintableText(value) && /^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}$/u.test(value);
}

/** Lowercases A–Z only: Unicode case mapping turns some non-ASCII letters into ASCII (U+212A → k). */
export const asciiLower = (value: string): string => value.replace(/[A-Z]+/g, (run) => run.toLowerCase());

/** An email as policies compare it: NFC, with its ASCII letters lowercased (domains are ASCII). */
export const canonicalEmail = (value: string): string => asciiLower(value.normalize('NFC'));
