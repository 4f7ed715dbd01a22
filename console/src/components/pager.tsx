import type { ResultInfo } from '../api-types.ts';

/** Previous and next page of a list, with where the reader is. */
export function Pager(props: { info: ResultInfo | undefined; onPage(page: number): void; label: string }) {
  const info = props.info;
  if (!info || info.total_pages <= 1) return null;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={info.page <= 1} onClick={() => props.onPage(info.page - 1)}>Previous page</button>
      <span>Page {info.page} of {info.total_pages} ({info.total_count} in all)</span>
      <button type="button" disabled={info.page >= info.total_pages} onClick={() => props.onPage(info.page + 1)}>Next page</button>
    </nav>
  );
}
