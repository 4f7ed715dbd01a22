import { Worker } from 'node:worker_threads';

/**
 * Starts the worker module `name` that sits beside `beside` (an `import.meta.url`). Compiled, both are .js.
 * Run from source (tsx, as the tests and `npm run dev` do), the worker is .ts, and Node 20 does not carry
 * tsx's loader into a worker: a two-line bootstrap registers it there first.
 */
export function spawnModuleWorker(beside: string, name: string, workerData: unknown): Worker {
  if (!beside.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, beside), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, beside).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
