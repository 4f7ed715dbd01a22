const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go duration syntax ("3m", "1h30m", "90s"), as Cloudflare writes durations. */
const GO_DURATION = /^([0-9]{1,9}(\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$/;
/** The same, as a JSON Schema pattern. */
export const GO_DURATION_PATTERN = GO_DURATION.source;

/** Seconds in a Go duration string, or null when it is not one. */
export function parseGoDuration(text: string): number | null {
  if (!GO_DURATION.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return total;
}

/** The shortest Go duration for whole seconds: 180 → "3m", 5400 → "1h30m". */
export function formatGoDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s === 0) return '0s';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${rest ? `${rest}s` : ''}`;
}
