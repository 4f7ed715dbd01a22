/**
 * `npm run docs:api`: writes docs/api.md from the OpenAPI document a server with the default settings
 * serves (built in-process over a temporary store). test/openapi/api-reference.test.ts fails when the
 * file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { servedApiReference } from '../test/openapi/served-api-reference.ts';

const path = join(import.meta.dirname, '..', 'docs', 'api.md');
writeFileSync(path, await servedApiReference());
process.stderr.write(`wrote ${path}\n`);
