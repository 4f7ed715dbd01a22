import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coversTarget, criterionCovers, type TargetCriterion } from './target-criteria.ts';

const web1 = { hostname: 'Web1.example.com', tags: { env: 'prod', team: 'payments' } };
const db1 = { hostname: 'db1', tags: { env: 'staging' } };
const ssh = (rest: Partial<TargetCriterion>): TargetCriterion => ({ port: 22, protocol: 'SSH', ...rest });

describe('target criteria: which targets an infrastructure application covers', () => {
  it('the deprecated target_attributes: hostnames without case, other keys as tags', () => {
    assert.equal(criterionCovers(ssh({ target_attributes: { hostname: ['web1.example.com'] } }), web1), true);
    assert.equal(criterionCovers(ssh({ target_attributes: { hostname: ['web1.example.com'] } }), db1), false);
    assert.equal(criterionCovers(ssh({ target_attributes: { env: ['prod'] } }), web1), true);
    assert.equal(criterionCovers(ssh({ target_attributes: { env: ['prod'] } }), db1), false);
  });

  it('include is any, require is every, exclude wins', () => {
    const either = ssh({ include: { tags: { env: ['staging'] }, target_attributes: { hostname: ['web1.example.com'] } } });
    assert.deepEqual([criterionCovers(either, web1), criterionCovers(either, db1)], [true, true]);
    const both = ssh({ require: { tags: { env: ['prod'], team: ['payments'] } } });
    assert.deepEqual([criterionCovers(both, web1), criterionCovers(both, db1)], [true, false]);
    const notPayments = ssh({ include: { tags: { env: ['prod', 'staging'] } }, exclude: { tags: { team: ['payments'] } } });
    assert.deepEqual([criterionCovers(notPayments, web1), criterionCovers(notPayments, db1)], [false, true]);
    const requiredAndIncluded = ssh({ require: { tags: { env: ['prod'] } }, include: { target_attributes: { hostname: ['db1'] } } });
    assert.equal(criterionCovers(requiredAndIncluded, web1), false, 'require holds but no include matches');
  });

  it('deny by default: a criterion naming nothing covers nothing; a tag key the target lacks never matches; only SSH counts', () => {
    assert.equal(criterionCovers(ssh({}), web1), false);
    assert.equal(criterionCovers(ssh({ include: {}, require: {}, exclude: {} }), web1), false);
    assert.equal(criterionCovers(ssh({ include: { tags: { owner: ['prod'] } } }), web1), false);
    assert.equal(criterionCovers(ssh({ include: { tags: { toString: ['x'] } } }), web1), false, 'inherited names are not tags');
    assert.equal(coversTarget([{ ...ssh({ target_attributes: { hostname: ['db1'] } }), protocol: 'RDP' }], db1), false);
    assert.equal(coversTarget([ssh({ target_attributes: { hostname: ['nope'] } }), ssh({ target_attributes: { hostname: ['db1'] } })], db1), true);
    assert.equal(coversTarget([], db1), false);
  });
});
