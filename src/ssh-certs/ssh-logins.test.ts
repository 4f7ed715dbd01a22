import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { grantedLogins } from './ssh-logins.ts';

describe('SSH logins from connection_rules', () => {
  it('the usernames, then the email alias when allowed, without repeats; nothing without rules', () => {
    assert.deepEqual(grantedLogins({ ssh: { usernames: ['deploy', 'ops'] } }, 'alice@example.com'), ['deploy', 'ops']);
    assert.deepEqual(grantedLogins({ ssh: { usernames: ['deploy'], allow_email_alias: true } }, 'alice@example.com'), ['deploy', 'alice']);
    assert.deepEqual(grantedLogins({ ssh: { usernames: ['Alice'], allow_email_alias: true } }, 'alice@example.com'), ['Alice']);
    assert.deepEqual(grantedLogins({ ssh: { usernames: [], allow_email_alias: false } }, 'alice@example.com'), []);
    assert.deepEqual(grantedLogins({ ssh: { usernames: [] , allow_email_alias: true } }, 'alice@example.com'), ['alice']);
    assert.deepEqual(grantedLogins({}, 'alice@example.com'), []);
    assert.deepEqual(grantedLogins(null, 'alice@example.com'), []);
  });
});
