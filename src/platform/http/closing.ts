import type { FastifyInstance } from 'fastify';

const flags = new WeakMap<FastifyInstance, { closing: boolean }>();

/**
 * Whether the app has begun to close (its preClose hooks ran): one flag per app, shared by whoever asks
 * (the envelope's 503 for late requests, /readyz's "unavailable").
 */
export function closingFlag(app: FastifyInstance): () => boolean {
  let flag = flags.get(app);
  if (!flag) {
    const created = { closing: false };
    app.addHook('preClose', (done) => {
      created.closing = true;
      done();
    });
    flags.set(app, created);
    flag = created;
  }
  const held = flag;
  return () => held.closing;
}
