import { createHash } from 'node:crypto';

/** A strong entity tag of some bytes or text: a hash, so every node gives the same tag for the same content. */
export const entityTag = (content: Buffer | string): string => `"${createHash('sha256').update(content).digest('base64url')}"`;

/** True when an If-None-Match header is `*` or lists this tag (weak comparison, RFC 9110 §13.1.2). */
export function noneMatch(header: string | string[] | undefined, tag: string): boolean {
  if (header === undefined) return false;
  return (Array.isArray(header) ? header.join(',') : header).split(',').some((t) => {
    const candidate = t.trim();
    return candidate === '*' || candidate.replace(/^W\//, '') === tag;
  });
}
