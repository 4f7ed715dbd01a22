/**
 * docs/api.md, made from the OpenAPI document the server serves: the reference cannot drift from the
 * routes, because a test renders the served document and compares (test/openapi/api-reference.test.ts),
 * and `npm run docs:api` writes it again.
 */

type Schema = Record<string, unknown>;
type Operation = {
  parameters?: { in: string; name: string; required?: boolean; schema?: Schema }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
  security?: Record<string, string[]>[];
};
export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** A schema in a few words: `string ≤ 64`, `integer 1–100`, `string[]`, `object`, `"a" | "b"`. */
export function typeOf(schema: Schema | undefined): string {
  if (!schema) return 'any';
  if ('const' in schema) return JSON.stringify(schema['const']);
  if (Array.isArray(schema['enum'])) return (schema['enum'] as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  const alternatives = (schema['anyOf'] ?? schema['oneOf']) as Schema[] | undefined;
  if (alternatives) return alternatives.map(typeOf).join(' | ');
  const type = schema['type'];
  if (Array.isArray(type)) return type.join(' | ');
  if (type === 'array') return `${typeOf(schema['items'] as Schema | undefined)}[]`;
  if (type === 'string') {
    const max = schema['maxLength'];
    const format = schema['format'];
    return `string${format ? ` (${String(format)})` : ''}${typeof max === 'number' ? ` ≤ ${max}` : ''}`;
  }
  if (type === 'integer' || type === 'number') {
    const [min, max] = [schema['minimum'], schema['maximum']];
    return `${type}${typeof min === 'number' && typeof max === 'number' ? ` ${min}–${max}` : ''}`;
  }
  return typeof type === 'string' ? type : 'object';
}

function fieldsOf(schema: Schema | undefined): { name: string; type: string; required: boolean }[] {
  const properties = schema?.['properties'] as Record<string, Schema> | undefined;
  if (!properties) return [];
  const required = new Set((schema?.['required'] as string[] | undefined) ?? []);
  return Object.entries(properties).map(([name, s]) => ({ name, type: typeOf(s), required: required.has(name) }));
}

/** What a success answer carries: the v4 envelope's `result`, or the body itself elsewhere. */
function resultOf(response: NonNullable<Operation['responses']>[string] | undefined): string {
  const content = response?.content;
  if (!content) return 'no body';
  const [mediaType, { schema } = {}] = Object.entries(content)[0]!;
  if (mediaType !== 'application/json') return mediaType;
  const result = (schema?.['properties'] as Record<string, Schema> | undefined)?.['result'];
  const shown = result ?? schema;
  const fields = fieldsOf(shown?.['type'] === 'array' ? shown['items'] as Schema : shown);
  const shape = fields.length > 0 ? `{${fields.map((f) => f.name).join(', ')}}` : typeOf(shown);
  return `${result ? 'result ' : ''}${shown?.['type'] === 'array' && fields.length > 0 ? `${shape}[]` : shape}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The Markdown reference of every route in the document, in path order. */
export function renderApiReference(doc: OpenApiDocument): string {
  const out: string[] = [
    '# API reference',
    '',
    `<!-- Generated from the OpenAPI document (${doc.info.title} ${doc.info.version}) by \`npm run docs:api\`; do not edit by hand. -->`,
    '',
    `${doc.info.description ?? ''}`,
    '',
    'The server serves this document itself at `/client/v4/openapi.json`, unauthenticated. Every v4 answer is',
    'Cloudflare\'s envelope `{success, errors, messages, result}`; an error\'s codes and what to do are in',
    '[using the API](api-guide.md). Credentials: `Authorization: Bearer <token>`, or `X-Auth-Email` with',
    '`X-Auth-Key`. Permission groups per route: [using the API](api-guide.md#the-api).',
    '',
  ];
  const paths = Object.keys(doc.paths).sort();
  const meanings = new Map<string, string>();
  for (const path of paths) for (const op of Object.values(doc.paths[path]!)) {
    for (const [code, response] of Object.entries(op.responses ?? {})) if (!code.startsWith('2') && !meanings.has(code)) meanings.set(code, response.description ?? '');
  }
  out.push('| status | meaning |', '|---|---|');
  for (const [code, meaning] of [...meanings].sort(([a], [b]) => a.localeCompare(b))) out.push(`| ${code} | ${cell(meaning)} |`);
  out.push('');
  out.push('| method | path | success | errors |', '|---|---|---|---|');
  for (const path of paths) {
    for (const method of METHODS) {
      const op = doc.paths[path]![method];
      if (!op) continue;
      const codes = Object.keys(op.responses ?? {}).sort();
      const success = codes.find((c) => c.startsWith('2') || c === '304') ?? '';
      out.push(`| ${method.toUpperCase()} | [\`${cell(path)}\`](#${anchor(method, path)}) | ${success} | ${codes.filter((c) => !c.startsWith('2')).join(' ')} |`);
    }
  }
  out.push('');
  for (const path of paths) {
    for (const method of METHODS) {
      const op = doc.paths[path]![method];
      if (!op) continue;
      out.push(`## ${method.toUpperCase()} ${path}`, '');
      const credentials = op.security && op.security.length > 0 ? 'a token or a global key' : 'none';
      out.push(`Credentials: ${credentials}.`, '');
      const query = (op.parameters ?? []).filter((p) => p.in === 'query');
      if (query.length > 0) {
        out.push('| query | type | required |', '|---|---|---|');
        for (const p of query) out.push(`| \`${p.name}\` | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : ''} |`);
        out.push('');
      }
      const body = op.requestBody?.content ? Object.entries(op.requestBody.content)[0] : undefined;
      if (body) {
        const fields = fieldsOf(body[1].schema);
        if (fields.length > 0) {
          out.push('| body field | type | required |', '|---|---|---|');
          for (const f of fields) out.push(`| \`${f.name}\` | ${cell(f.type)} | ${f.required ? 'yes' : ''} |`);
        } else out.push(`Body: ${body[0]}, ${cell(typeOf(body[1].schema))}.`);
        out.push('');
      }
      const responses = Object.entries(op.responses ?? {}).sort(([a], [b]) => a.localeCompare(b));
      for (const [status, response] of responses.filter(([code]) => code.startsWith('2') || code === '304')) {
        out.push(`Answers ${status}: ${cell(resultOf(response))}.`);
      }
      out.push(`Errors: ${responses.filter(([code]) => !code.startsWith('2') && code !== '304').map(([code]) => code).join(', ')}.`);
      out.push('');
    }
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** GitHub's anchor for a `## METHOD /path` heading. */
function anchor(method: string, path: string): string {
  return `${method} ${path}`.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}
