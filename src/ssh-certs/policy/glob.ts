/**
 * Matches `*` (any run) and `?` (one character) patterns without regular expressions and without
 * backtracking: the pattern is split on `*`, the first piece must start the text, the last must end it,
 * and each piece between is taken at its leftmost place after the one before (leftmost is always safe:
 * a later place leaves less room for the rest). Cost is at most text length × pattern length, so an
 * operator's pattern cannot stall the event loop, whatever its shape.
 */
export function globMatch(pattern: string, text: string): boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return pattern.length === text.length && pieceAt(pattern, text, 0);
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (first.length + last.length > text.length) return false;
  if (!pieceAt(first, text, 0) || !pieceAt(last, text, text.length - last.length)) return false;
  let from = first.length;
  const end = text.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    if (piece === '') continue;
    const at = leftmost(piece, text, from, end);
    if (at < 0) return false;
    from = at + piece.length;
  }
  return true;
}

function pieceAt(piece: string, text: string, at: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    const c = piece[i];
    if (c !== '?' && c !== text[at + i]) return false;
  }
  return true;
}

function leftmost(piece: string, text: string, from: number, end: number): number {
  for (let at = from; at + piece.length <= end; at++) if (pieceAt(piece, text, at)) return at;
  return -1;
}
