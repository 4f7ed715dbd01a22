/**
 * Text that may reach a certificate, a store, a log or a terminal: well-formed Unicode with no control
 * or format characters (C0, DEL, C1, bidi overrides, zero-width marks) and no unpaired surrogates.
 */
export function isPrintableText(value: string): boolean {
  return value.isWellFormed() && !/\p{C}/u.test(value);
}

/** A JSON Schema `pattern` for the same rule, for TypeBox string fields: refused at the edge with a pointer. */
export const PRINTABLE_PATTERN = '^[^\\p{C}]*$';

/** An email address as an identity: printable, one `@`, no spaces, bounded. */
export function isIdentityEmail(value: string): boolean {
  return value.length <= 320 && isPrintableText(value) && /^[^@\s]{1,64}@[^@\s]{1,255}$/u.test(value);
}
