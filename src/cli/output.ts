import { terminalJson, terminalText, terminalValue } from './terminal-text.ts';

/**
 * How a verb reports: `--json` prints one compact JSON object on stdout; human text goes to stderr.
 * Everything printed passes through terminal-text.ts, so no name or server text reaches the terminal raw.
 */
export interface Output {
  result(value: unknown, human: string): void;
  info(text: string): void;
}

export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** The Output a verb writes through: JSON or human text, each escaped for the terminal. */
export function createOutput(json: boolean, streams: Streams): Output {
  const human = (text: string) => {
    const safe = terminalText(text);
    streams.stderr.write(safe.endsWith('\n') ? safe : `${safe}\n`);
  };
  return {
    result(value, text) {
      if (json) streams.stdout.write(`${terminalJson(value)}\n`);
      else human(text);
    },
    info: human,
  };
}

/** Aligned columns for list verbs' human output; a cell is one value, so its line breaks are escaped too. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => terminalValue(v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(', ') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}
