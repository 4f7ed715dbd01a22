import { makeTestApp } from '../helpers/test-app.ts';
import { renderApiReference, type OpenApiDocument } from '../../src/openapi/api-reference.ts';

/** docs/api.md as it should be: the reference rendered from the document a default server serves. */
export async function servedApiReference(): Promise<string> {
  const h = await makeTestApp();
  try {
    const served = await h.call('GET', '/client/v4/openapi.json');
    if (served.status !== 200) throw new Error(`the server answered ${served.status} for its OpenAPI document`);
    return renderApiReference(JSON.parse(served.raw) as OpenApiDocument);
  } finally {
    await h.close();
  }
}
