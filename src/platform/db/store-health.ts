import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.ts';
import type { StoreFailure } from './db-errors.ts';

/** How often, while an outage lasts, a line says how many requests it has refused. */
export const OUTAGE_WARN_EVERY_MS = 10_000;

/** What the store's health is now, for /readyz and the state gauge. */
export interface StoreState {
  healthy: boolean;
  /** While unhealthy: when the outage began (ms since the epoch), its classes, and requests refused so far. */
  since?: number;
  classes?: StoreFailure[];
  refused?: number;
}

/**
 * One outage, told once: the first failure of each class is logged at `error` with its cause, a `warn`
 * every ten seconds counts the requests refused meanwhile, and the first write that succeeds afterwards
 * ends it with one `info` line giving its length and count. Reads that succeed do not end it (a full disk
 * still serves reads); only a write does.
 */
export interface StoreHealth {
  /** A request failed because of the store; `cause` is logged the first time its class is seen in an outage. */
  failed(kind: StoreFailure, cause: unknown): void;
  /** A write committed. */
  wrote(): void;
  state(): StoreState;
  /** Called with every change of health (for the gauge). */
  observe(listener: (state: StoreState) => void): void;
  close(): void;
}

/** A safe summary of a driver error for the log: its code and message, no stack, no query text or parameters. */
function causeOf(error: unknown): { code?: string; message: string } {
  const code = (error as { code?: unknown })?.code;
  return { ...(typeof code === 'string' ? { code } : {}), message: error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300) };
}

export function createStoreHealth(deps: { log: FastifyBaseLogger; clock: Clock; warnEveryMs?: number }): StoreHealth {
  const { log, clock } = deps;
  const warnEveryMs = deps.warnEveryMs ?? OUTAGE_WARN_EVERY_MS;
  let outage: { since: number; classes: Set<StoreFailure>; refused: number; warnedAt: number; timer: NodeJS.Timeout } | null = null;
  const listeners: ((s: StoreState) => void)[] = [];

  const state = (): StoreState => (outage === null ? { healthy: true }
    : { healthy: false, since: outage.since, classes: [...outage.classes], refused: outage.refused });
  const tell = () => { for (const l of listeners) l(state()); };

  function warn(): void {
    if (outage === null) return;
    outage.warnedAt = clock.now().getTime();
    log.warn({ event: 'store.outage', classes: [...outage.classes], refused: outage.refused, for_ms: outage.warnedAt - outage.since },
      `the store is still unavailable: ${outage.refused} request(s) refused with 503 so far`);
  }

  return {
    failed(kind, cause) {
      if (outage === null) {
        const now = clock.now().getTime();
        const timer = setInterval(warn, warnEveryMs);
        timer.unref();
        // Listeners hear of it below, with its first class.
        outage = { since: now, classes: new Set(), refused: 0, warnedAt: now, timer };
      }
      outage.refused++;
      if (!outage.classes.has(kind)) {
        outage.classes.add(kind);
        log.error({ event: 'store.unavailable', class: kind, cause: causeOf(cause) }, `the store is unavailable (${kind}): requests are answered 503 with retry-after until it recovers`);
        tell();
      }
    },
    wrote() {
      if (outage === null) return;
      const { since, refused, classes, timer } = outage;
      clearInterval(timer);
      outage = null;
      const forMs = clock.now().getTime() - since;
      log.info({ event: 'store.recovered', classes: [...classes], refused, for_ms: forMs }, `the store is available again after ${(forMs / 1000).toFixed(1)} s; ${refused} request(s) were refused meanwhile`);
      tell();
    },
    state,
    observe(listener) {
      listeners.push(listener);
    },
    close() {
      if (outage !== null) clearInterval(outage.timer);
    },
  };
}
