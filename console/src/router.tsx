import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

const PREFIX = '/console';

/** The page path after /console (always starting with `/`). */
export function currentPath(): string {
  const path = location.pathname.startsWith(PREFIX) ? location.pathname.slice(PREFIX.length) : '/';
  return path === '' ? '/' : path;
}

/** Goes to a page of the console without reloading it. */
export function navigate(to: string): void {
  history.pushState(null, '', PREFIX + to);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The current page path, updated on navigation and on the browser's back and forward. */
export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const update = () => setPath(currentPath());
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return path;
}

/** A link to a page of the console: a real link (new tab, copy address) that navigates in place on a plain click. */
export function Link(props: { to: string; children: ComponentChildren; class?: string; current?: boolean }) {
  return (
    <a
      href={PREFIX + props.to}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}
