import type { Parameters } from 'fast-check';

/**
 * Seed and run counts of the fuzz suite. `npm test` runs every property with a fixed seed and a small
 * count, so the suite is repeatable and quick; `ACCESS_CA_FUZZ_RUNS=N` runs each property N times and
 * `ACCESS_CA_FUZZ_SEED=S` (an integer, or `random`) changes the inputs. fast-check prints the seed and
 * the counterexample's path when a property fails, so a failure of a long run can be replayed.
 */
export const DEFAULT_FUZZ_SEED = 20_250_611;

function positiveInteger(name: string, text: string): number {
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return Number(text);
}

function seedFromEnv(): number {
  const text = process.env['ACCESS_CA_FUZZ_SEED'];
  if (text === undefined || text === '') return DEFAULT_FUZZ_SEED;
  if (text === 'random') return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
  if (!/^-?[0-9]{1,10}$/.test(text)) throw new Error(`ACCESS_CA_FUZZ_SEED must be an integer or "random", not ${JSON.stringify(text)}`);
  return Number(text) | 0;
}

const runsText = process.env['ACCESS_CA_FUZZ_RUNS'];
/** Runs per property for a long run; undefined: each property's own small default. */
export const FUZZ_RUNS_OVERRIDE = runsText === undefined || runsText === '' ? undefined : positiveInteger('ACCESS_CA_FUZZ_RUNS', runsText);
export const FUZZ_SEED = seedFromEnv();

/** fast-check parameters for one property: the suite's seed, and its default run count unless overridden. */
export function fuzzParams<T>(defaultRuns: number): Parameters<T> {
  // The failing assertion goes into the message: the test runner does not print an error's cause.
  return { seed: FUZZ_SEED, numRuns: FUZZ_RUNS_OVERRIDE ?? defaultRuns, includeErrorInReport: true };
}

/**
 * Whether a property ran at least its default count: the checks that the generators reach past validation
 * (some inputs accepted, some refused) are only meaningful then, not for a quick run of a few inputs.
 */
export const ranEnough = (defaultRuns: number): boolean => (FUZZ_RUNS_OVERRIDE ?? defaultRuns) >= defaultRuns;

/** How long one input may take, generous so that it cannot flake on a loaded machine; a hang is far past it. */
export const PER_INPUT_MS = 2_000;

/** How long a whole fuzz test may take: a long run scales with its count. */
export const testTimeoutMs = (defaultRuns: number): number =>
  Math.max(120_000, (FUZZ_RUNS_OVERRIDE ?? defaultRuns) * PER_INPUT_MS);

