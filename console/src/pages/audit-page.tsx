import { useState } from 'preact/hooks';
import type { Api } from '../api.ts';
import type { AuditEventView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { TextField } from '../components/field.tsx';
import { Empty, ErrorNote, Loading } from '../components/status.tsx';
import { Pager } from '../components/pager.tsx';

/** The account's audit trail, newest first, filtered by event type or subject. */
export function AuditPage(props: { api: Api }) {
  const [page, setPage] = useState(1);
  const [type, setType] = useState('');
  const [subject, setSubject] = useState('');
  const [applied, setApplied] = useState({ type: '', subject: '' });
  const q = new URLSearchParams({ page: String(page), per_page: '50' });
  if (applied.type) q.set('type', applied.type);
  if (applied.subject) q.set('subject', applied.subject);
  const list = useLoad(() => props.api.page<AuditEventView>(`/access/audit?${q.toString()}`), [q.toString()]);

  return (
    <section>
      <h1 tabIndex={-1}>Audit log</h1>
      <form
        class="filters" role="search" aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          setPage(1);
          setApplied({ type: type.trim(), subject: subject.trim() });
        }}
      >
        <TextField id="audit-type" label="Event type" value={type} onInput={setType} placeholder="e.g. ssh_ca.created" />
        <TextField id="audit-subject" label="Subject ID" value={subject} onInput={setSubject} />
        <div class="actions"><button type="submit">Apply filters</button></div>
      </form>
      {list.loading && !list.data ? <Loading what="the audit log" /> : null}
      <ErrorNote error={list.error} />
      {list.data && list.data.items.length === 0 ? <Empty>No events match.</Empty> : null}
      {list.data && list.data.items.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Audit events</caption>
            <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Actor</th><th scope="col">Subject</th><th scope="col">Details</th></tr></thead>
            <tbody>
              {list.data.items.map((e) => (
                <tr key={e.id}>
                  <td><time dateTime={e.created_at}>{e.created_at}</time></td>
                  <td><code>{e.type}</code></td>
                  <td>{e.actor}</td>
                  <td><code class="wrap">{e.subject}</code></td>
                  <td><code class="wrap">{JSON.stringify(e.data)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager info={list.data?.info} onPage={setPage} label="Audit log" />
    </section>
  );
}
