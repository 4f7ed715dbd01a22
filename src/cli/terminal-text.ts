/**
 * What the CLI prints reaches an operator's terminal, and much of it is not ours: app and provider names,
 * emails, issuers, a server's error text. A terminal acts on some characters instead of showing them:
 * ESC and the other C0 controls, DEL, and the C1 controls (U+009B is a one-character CSI to many
 * terminals) can retitle the window, move the cursor, rewrite lines already printed or write to the
 * clipboard; bidi overrides and isolates reorder what is shown ("Trojan Source"); U+2028/U+2029 break
 * lines; a lone surrogate cannot be encoded at all. Each of them is shown as its escape, in visible
 * characters (`\x1b`, `\u202e`), so the operator sees that it is there and the terminal never acts on it.
 * Letters of every script, accents, CJK and emoji (with their joiners) are kept as they are. Backslash is
 * not escaped: the aim is a safe terminal, not a reversible encoding.
 */

// With the u flag a paired surrogate is one code point, so [\ud800-\udfff] matches only a lone one.
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu;
// The same set without the line break, for text whose line breaks are the CLI's own.
const UNSAFE_KEEPING_LINES = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu;
// What JSON.stringify leaves raw among those: it escapes C0 controls and lone surrogates itself.
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, digits: number) => c.charCodeAt(0).toString(16).padStart(digits, '0');
const visible = (c: string) => (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`);

/** One value made safe to print: every unsafe character, line breaks included, shown as its escape. */
export function terminalValue(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** Text made safe to print, keeping its line breaks (`\n`); every other unsafe character is escaped. */
export function terminalText(text: string): string {
  return text.replace(UNSAFE_KEEPING_LINES, visible);
}

/**
 * One compact JSON line that is also safe on a terminal: what JSON.stringify leaves raw (DEL, C1, bidi
 * controls, U+2028/U+2029) is written as `\uXXXX`. Those characters only ever occur inside JSON strings,
 * where `\uXXXX` is the same value, so a parser reads exactly what JSON.stringify meant.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}
