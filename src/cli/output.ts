import { terminalJson, terminalText, terminalValue } from './terminal-text.ts';

/**
 * How a verb reports, by the convention of ssh-keygen, kubectl, gh and vault: the result on stdout (human
 * text, one compact JSON object with `--json`, or the bare value with `--quiet`), diagnostics and progress
 * on stderr. So `TOKEN=$(access-ca token create … --quiet)`, `access-ca ssh-config … >> ~/.ssh/config` and
 * `app list | grep` capture the result and nothing else. Everything printed passes through
 * terminal-text.ts, so no name or server text reaches the terminal raw.
 */
export interface Output {
  /**
   * The verb's result. `bare` is what `--quiet` prints: the one value a script wants (an id, a token, a
   * block of config); when not given, the value's `id`, or the ids of a list, or else the human text.
   */
  result(value: unknown, human: string, bare?: string): void;
  /** A diagnostic or progress line: always stderr (with --quiet too), never mixed with the result. */
  info(text: string): void;
}

export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export type OutputMode = 'human' | 'json' | 'quiet';

const line = (text: string) => (text.endsWith('\n') ? text : `${text}\n`);

/** What `--quiet` prints when the verb names no value: an object's id, a list's ids (one a line). */
function defaultBare(value: unknown, human: string): string {
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record['id'] === 'string') return record['id'];
    const lists = Object.values(record).filter(Array.isArray);
    if (lists.length === 1) {
      return (lists[0] as unknown[]).map((item) => (item !== null && typeof item === 'object' ? String((item as Record<string, unknown>)['id'] ?? '') : String(item))).join('\n');
    }
  }
  return human;
}

/** The Output a verb writes through: JSON, human text or the bare value on stdout, each escaped for the terminal. */
export function createOutput(mode: OutputMode, streams: Streams): Output {
  return {
    result(value, human, bare) {
      if (mode === 'json') streams.stdout.write(`${terminalJson(value)}\n`);
      else if (mode === 'quiet') {
        const text = bare ?? defaultBare(value, human);
        if (text !== '') streams.stdout.write(line(terminalText(text)));
      } else streams.stdout.write(line(terminalText(human)));
    },
    // Diagnostics stay on stderr even with --quiet: a sign-in URL or a changed file mode must be seen.
    info(text) {
      streams.stderr.write(line(terminalText(text)));
    },
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
