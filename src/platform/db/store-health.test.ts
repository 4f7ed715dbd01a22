import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyBaseLogger } from 'fastify';
import { createStoreHealth, OUTAGE_WARN_EVERY_MS, type StoreState } from './store-health.ts';

function capturingLog() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => { lines.push({ level, fields, message }); };
  const log = { error: at('error'), warn: at('warn'), info: at('info') } as unknown as FastifyBaseLogger;
  return { log, lines };
}

test('one outage is told once: an error line per class with its cause, a warn every 10 s with the count, one recovery line with length and count', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  const { log, lines } = capturingLog();
  const health = createStoreHealth({ log, clock: { now: () => new Date() } });
  const states: StoreState[] = [];
  health.observe((s) => states.push(s));

  health.wrote();
  assert.equal(lines.length, 0, 'a write while healthy says nothing');

  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  for (let i = 0; i < 500; i++) health.failed('unreachable', refused);
  health.failed('shutting_down', Object.assign(new Error('the database system is starting up'), { code: '57P03' }));
  assert.deepEqual(lines.map((l) => [l.level, l.fields.class]), [['error', 'unreachable'], ['error', 'shutting_down']], 'one error per class, not one per request');
  assert.deepEqual(lines[0]!.fields.cause, { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' });
  assert.equal(health.state().healthy, false);
  assert.equal(health.state().refused, 501);

  t.mock.timers.tick(OUTAGE_WARN_EVERY_MS);
  t.mock.timers.tick(OUTAGE_WARN_EVERY_MS);
  const warns = lines.filter((l) => l.level === 'warn');
  assert.equal(warns.length, 2, 'a warn every ten seconds');
  assert.equal(warns[1]!.fields.refused, 501);
  assert.equal(warns[1]!.fields.for_ms, 2 * OUTAGE_WARN_EVERY_MS);

  t.mock.timers.tick(2_500);
  health.wrote();
  const recovered = lines.filter((l) => l.level === 'info');
  assert.equal(recovered.length, 1);
  assert.deepEqual([recovered[0]!.fields.refused, recovered[0]!.fields.for_ms], [501, 22_500]);
  assert.match(recovered[0]!.message, /after 22\.5 s; 501 request\(s\) were refused/);
  assert.deepEqual(health.state(), { healthy: true });

  t.mock.timers.tick(5 * OUTAGE_WARN_EVERY_MS);
  health.wrote();
  assert.equal(lines.length, 5, 'after recovery: no more warns, no second recovery line');
  assert.deepEqual(states.map((s) => s.healthy), [false, false, true], 'the gauge hears the outage, its second class and the recovery');

  // A second outage is told again from the start.
  health.failed('unreachable', refused);
  assert.equal(lines.at(-1)!.level, 'error');
  health.close();
});

test('the cause in the log is the driver\'s code and message only: no stack, no query parameters, bounded', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { log, lines } = capturingLog();
  const health = createStoreHealth({ log, clock: { now: () => new Date(0) } });
  const error = Object.assign(new Error('x'.repeat(5_000)), { code: 'SQLITE_FULL', parameters: ['secret-value'], query: 'insert …' });
  health.failed('disk_full', error);
  assert.deepEqual(Object.keys(lines[0]!.fields.cause as object).sort(), ['code', 'message']);
  assert.equal((lines[0]!.fields.cause as { message: string }).message.length, 300);
  assert.doesNotMatch(JSON.stringify(lines), /secret-value|insert|at .*\.ts/);
  health.close();
});
