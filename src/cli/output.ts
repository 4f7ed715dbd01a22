/** How a verb reports: `--json` prints one compact JSON object on stdout; human text goes to stderr. */
export interface Output {
  result(value: unknown, human: string): void;
  info(text: string): void;
}

export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export function createOutput(json: boolean, streams: Streams): Output {
  return {
    result(value, human) {
      if (json) streams.stdout.write(`${JSON.stringify(value)}\n`);
      else streams.stderr.write(human.endsWith('\n') ? human : `${human}\n`);
    },
    info(text) {
      streams.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}

/** Aligned columns for list verbs' human output. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(', ') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}
