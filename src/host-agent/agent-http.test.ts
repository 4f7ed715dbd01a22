import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentError, AgentInputError, serverOrigin } from './agent-http.ts';

describe('agent: the server it trusts', () => {
  it('takes https and loopback http; refuses plain http elsewhere unless told, paths and credentials always', () => {
    assert.equal(serverOrigin('https://ca.example.com/'), 'https://ca.example.com');
    for (const loopback of ['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787']) assert.equal(serverOrigin(loopback), new URL(loopback).origin);
    assert.throws(() => serverOrigin('http://ca.example.com'), (e: Error) => e instanceof AgentInputError && /plain http: .*--insecure-http/.test(e.message));
    assert.equal(serverOrigin('http://ca.example.com', '--server', { insecureHttp: true }), 'http://ca.example.com');
    assert.throws(() => serverOrigin('https://ca.example.com/client/v4'), (e: Error) => e instanceof AgentError && /without a path/.test(e.message));
    assert.throws(() => serverOrigin('https://u:p@ca.example.com'), /must not carry credentials/);
    assert.throws(() => serverOrigin('ftp://ca.example.com'), /http\(s\) URL/);
    assert.throws(() => serverOrigin('not a url'), /must be a URL/);
  });
});
