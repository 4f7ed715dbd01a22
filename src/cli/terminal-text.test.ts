import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOutput, table } from './output.ts';
import { terminalJson, terminalText, terminalValue } from './terminal-text.ts';

// Every character a terminal may act on instead of showing, with the visible escape it must become.
const DANGEROUS: [string, string, string][] = [
  ['NUL', '\x00', '\\x00'],
  ['BEL (ends an OSC sequence)', '\x07', '\\x07'],
  ['BS', '\x08', '\\x08'],
  ['TAB', '\t', '\\x09'],
  ['VT', '\x0b', '\\x0b'],
  ['CR (rewrites the line)', '\r', '\\x0d'],
  ['ESC', '\x1b', '\\x1b'],
  ['US', '\x1f', '\\x1f'],
  ['DEL', '\x7f', '\\x7f'],
  ['C1 PAD', '\u0080', '\\x80'],
  ['C1 CSI', '\u009b', '\\x9b'],
  ['C1 OSC', '\u009d', '\\x9d'],
  ['C1 APC', '\u009f', '\\x9f'],
  ['ALM', '\u061c', '\\u061c'],
  ['LRM', '\u200e', '\\u200e'],
  ['RLM', '\u200f', '\\u200f'],
  ['LINE SEPARATOR', '\u2028', '\\u2028'],
  ['PARAGRAPH SEPARATOR', '\u2029', '\\u2029'],
  ['LRE', '\u202a', '\\u202a'],
  ['RLE', '\u202b', '\\u202b'],
  ['PDF', '\u202c', '\\u202c'],
  ['LRO', '\u202d', '\\u202d'],
  ['RLO', '\u202e', '\\u202e'],
  ['LRI', '\u2066', '\\u2066'],
  ['RLI', '\u2067', '\\u2067'],
  ['FSI', '\u2068', '\\u2068'],
  ['PDI', '\u2069', '\\u2069'],
  ['lone high surrogate', '\ud800', '\\ud800'],
  ['lone low surrogate', '\udfff', '\\udfff'],
];

const PLAUSIBLE = [
  'bastion',
  'Zoë Ångström <zoe@example.com>',
  'café-prod.example.com',
  '東京サーバー',
  '서울 bastion',
  'سرور',
  'אפליקציה',
  'rocket 🚀 and 👩‍💻 (a ZWJ sequence)',
  'flags 🇫🇷',
  'C:\\path\\with\\backslashes',
  'https://idp.example.com/realms/main?x=1&y=2',
];

describe('terminal text', () => {
  for (const [name, raw, shown] of DANGEROUS) {
    it(`escapes ${name} (U+${raw.charCodeAt(0).toString(16).padStart(4, '0')}) as ${shown}`, () => {
      assert.equal(terminalValue(`a${raw}b`), `a${shown}b`);
      assert.equal(terminalText(`a${raw}b`), `a${shown}b`);
    });
  }

  it('keeps plausible text of every script as it is', () => {
    for (const text of PLAUSIBLE) {
      assert.equal(terminalValue(text), text);
      assert.equal(terminalText(text), text);
    }
  });

  it('keeps the line breaks of multi-line text, but escapes them inside one value', () => {
    assert.equal(terminalText('token created:\nabc\n'), 'token created:\nabc\n');
    assert.equal(terminalValue('a\nb'), 'a\\x0ab');
    assert.equal(terminalText('a\r\nb'), 'a\\x0d\nb');
  });

  it('keeps a surrogate pair (an emoji) and escapes only the unpaired half next to it', () => {
    assert.equal(terminalValue('\ud83d\ude80\ud83d'), '\ud83d\ude80\\ud83d');
    assert.equal(terminalValue('\ude80\ud83d\ude80'), '\\ude80\ud83d\ude80');
  });

  it('is idempotent: escaped text has nothing left to escape', () => {
    const all = DANGEROUS.map(([, raw]) => raw).join(' '); // spaced: \ud800\udfff side by side would be a pair
    const once = terminalValue(all);
    assert.equal(terminalValue(once), once);
    assert.match(once, /^[\x20-\x7e]+$/);
  });

  it('JSON output escapes what JSON.stringify leaves raw, and still parses to the same value', () => {
    const value = { name: DANGEROUS.map(([, raw]) => raw).join(' '), ok: 'Zoë 東京 🚀' };
    const line = terminalJson(value);
    assert.match(line, /^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/);
    assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(line), 'no lone surrogate');
    for (const escape of ['\\u2028', '\\u2029', '\\u202e', '\\u009b', '\\u007f', '\\ud800', '\\udfff', '\\u001b']) {
      assert.ok(line.includes(escape), escape);
    }
    assert.ok(line.includes('Zoë 東京 🚀'), 'plausible text is kept as it is');
    assert.deepEqual(JSON.parse(line), value);
  });

  it('createOutput and table print a name with an OSC title sequence escaped, in human and JSON output', () => {
    const name = 'evil\x1b]0;pwned\x07';
    let stderr = '';
    let stdout = '';
    const streams = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
    const human = createOutput('human', streams);
    human.result({ apps: [{ id: 'a1', name }] }, table([{ id: 'a1', name }, { id: 'a2', name: 'ok' }], ['id', 'name']));
    human.result({}, `application a1 (${name}) created`);
    human.info(`open \u202eevil\u202c ${name}`);
    // The result is on stdout, the diagnostic on stderr: each escaped.
    assert.equal(stdout, [
      'ID  NAME',
      'a1  evil\\x1b]0;pwned\\x07',
      'a2  ok',
      'application a1 (evil\\x1b]0;pwned\\x07) created',
      '',
    ].join('\n'));
    assert.equal(stderr, 'open \\u202eevil\\u202c evil\\x1b]0;pwned\\x07\n');
    stdout = '';

    const json = createOutput('json', streams);
    json.result({ name: `${name}\u009b\u2028` }, 'unused');
    assert.equal(stdout, '{"name":"evil\\u001b]0;pwned\\u0007\\u009b\\u2028"}\n');
    assert.equal(JSON.parse(stdout).name, `${name}\u009b\u2028`);
  });

  it('a cell with a line break or tab stays on its row and in its column', () => {
    const out = table([{ id: 'a1', name: 'two\nlines\tand tab' }, { id: 'a2', name: 'x' }], ['id', 'name', 'more']);
    assert.deepEqual(out.split('\n'), ['ID  NAME                     MORE', 'a1  two\\x0alines\\x09and tab  -', 'a2  x                        -']);
  });
});
