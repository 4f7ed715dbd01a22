import { Type } from 'typebox';
import { errors } from './errors.ts';
import type { ResultInfo } from './envelope.ts';

export const MAX_PER_PAGE = 1000;
export const DEFAULT_PER_PAGE = 100;

/** Query string of every list route; numbers arrive as strings and are checked in `pageRequest`. */
export const PageQuery = Type.Object(
  {
    page: Type.Optional(Type.String()),
    per_page: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

export interface PageRequest {
  page: number;
  perPage: number;
}

function positiveInt(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^[0-9]{1,9}$/.test(value)) throw errors.invalidRequest(`${name} must be a positive integer`);
  const n = Number(value);
  if (n < 1 || n > max) throw errors.invalidRequest(`${name} must be between 1 and ${max}`);
  return n;
}

/** Reads `page` (1-based) and `per_page` (≤ 1000) from a list route's query. */
export function pageRequest(query: { page?: string | undefined; per_page?: string | undefined }): PageRequest {
  return {
    page: positiveInt(query.page, 'page', 1, 1_000_000_000),
    perPage: positiveInt(query.per_page, 'per_page', DEFAULT_PER_PAGE, MAX_PER_PAGE),
  };
}

/** SQL offset of a page. */
export const pageOffset = (p: PageRequest): number => (p.page - 1) * p.perPage;

/** Cloudflare's result_info for one page; a page past the end has count 0. */
export function resultInfo(p: PageRequest, count: number, totalCount: number): ResultInfo {
  return {
    page: p.page,
    per_page: p.perPage,
    count,
    total_count: totalCount,
    total_pages: Math.ceil(totalCount / p.perPage),
  };
}

/** One page of a list already held in memory (a credential's few accounts or zones), with its result_info. */
export function pageOfList<T, V>(rows: readonly T[], p: PageRequest, view: (row: T) => V): { items: V[]; info: ResultInfo } {
  const offset = pageOffset(p);
  const items = rows.slice(offset, offset + p.perPage).map(view);
  return { items, info: resultInfo(p, items.length, rows.length) };
}
