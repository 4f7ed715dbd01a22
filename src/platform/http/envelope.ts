import { Type, type TSchema } from 'typebox';
import type { ErrorItem } from './errors.ts';

/** Cloudflare's v4 envelope around a successful result. */
export function ok<T>(result: T) {
  return { success: true as const, errors: [] as never[], messages: [] as never[], result };
}

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

/** The envelope of one page of a list. */
export function okPage<T>(result: T[], result_info: ResultInfo) {
  return { ...ok(result), result_info };
}

/** The envelope of a failure. */
export function failure(items: ErrorItem[]) {
  return { success: false as const, errors: items, messages: [] as never[], result: null };
}

const Messages = Type.Array(Type.Object({ code: Type.Integer(), message: Type.String() }));

/** Response schema of a success envelope: the result schema whitelists what leaves the server. */
export function envelopeSchema<T extends TSchema>(result: T) {
  return Type.Object({
    success: Type.Boolean(),
    errors: Messages,
    messages: Messages,
    result,
  });
}

/** Response schema of a paged list envelope. */
export function pageEnvelopeSchema<T extends TSchema>(item: T) {
  return Type.Object({
    success: Type.Boolean(),
    errors: Messages,
    messages: Messages,
    result: Type.Array(item),
    result_info: Type.Object({
      page: Type.Integer(),
      per_page: Type.Integer(),
      count: Type.Integer(),
      total_count: Type.Integer(),
      total_pages: Type.Integer(),
    }),
  });
}

/** A route that defines no body: no body, an empty JSON body and `{}` are the same request. */
export const EmptyBody = Type.Object({}, { additionalProperties: false });
