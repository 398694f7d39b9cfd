// The end of relayed answers. A stream's last event reaches the client whole in strict durability,
// where the outcome gate holds the answer's end for its record, as it does without the gate; the
// gate and the forwarder agree on what that end is. A backend's error under a policy goes through
// the answer's checks (redaction, token restoring) before any of it is relayed, and goes out as JSON
// whatever type the backend named.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, bearer, stopAndRemove } from './lib/gateway.mjs';
import { readSse } from './lib/http.mjs';
import { assertError, assertShape } from './lib/openai_shapes.mjs';
import { evidenceDir, evidenceSections } from './lib/evidence.mjs';
import { sitePolicy, tokenizeRule } from './lib/policies.mjs';
import { writeAnswer, writeStatusAnswer, startScriptedUpstream, chatEvent } from './lib/scripted_answers.mjs';

const KEY = 'sk-answer-ends';
const CARD = '4111 1111 1111 1111';

const POLICY = sitePolicy({ name: 'answer-ends-itest', defaultClearance: 'confidential',
  zoneDescription: 'every upstream of this test', tenants: ['ends'], redactInAnswers: ['credit_card'],
  rules: tokenizeRule('tokenize-mail', ['email']) });

describe('the end of relayed answers', { timeout: 120000 }, () => {
  let dir;
  let upstream;
  let checked;  // a policy: answers and errors are checked
  let plain;    // none: relayed as they come
  let relaxed;  // a policy, relaxed durability: no outcome gate

  before(async () => {
    let keys;
    let policyFile;
    ({ dir, keys, policyFile } = await evidenceDir('sovereign-answer-ends-', { policy: POLICY }));
    upstream = await startScriptedUpstream(dir);
    const config = (audit, durability) => ({
      tenants: [tenant({ name: 'ends', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'scripted-be', zone: 'site', models: ['scripted-model'], upstreams: [upstream] })],
      ...evidenceSections(keys, path.join(dir, audit), { durability }),
    });
    checked = await Gateway.start({ ...config('audit-checked', 'strict'), policy: policyFile });
    plain = await Gateway.start(config('audit-plain', 'strict'));
    relaxed = await Gateway.start({ ...config('audit-relaxed', 'relaxed'), policy: policyFile });
  });

  after(async () => {
    await stopAndRemove(dir, checked, plain, relaxed, upstream);
  });

  const chat = (extra = {}, content = 'hello') => ({ model: 'scripted-model', messages: [{ role: 'user', content }], ...extra });
  const stream = (gw, content) => readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
    body: chat({ stream: true }, content) });

  it('in strict durability a data: [DONE] the backend left without its line ending, its body ending in a later read, reaches the client as a whole event', async () => {
    const hello = chatEvent({ role: 'assistant', content: 'hello' });
    for (const [name, gw] of [['checked', checked], ['plain', plain]]) {
      for (const end of ['data: [DONE]', 'data:[DONE]', 'data: [DONE]\r']) {
        const what = `${name}, ${JSON.stringify(end)}`;
        // The body ends 150 ms after the end line: in a read of its own.
        writeAnswer(dir, [hello, chatEvent({}, 'stop'), end], 'text/event-stream', 150);
        const res = await stream(gw);
        assert.equal(res.status, 200, `${what}: ${JSON.stringify(res)}`);
        assert.deepEqual(res.events.map((e) => e.data).slice(-1), ['[DONE]'], `${what}: ${JSON.stringify(res)}`);
        assert.equal(res.rest, '', `${what}: the last event was left unfinished`);
        assert.ok(!res.events.some((e) => e.data.includes('"error"')), `${what}: ${JSON.stringify(res.events)}`);
      }
    }
  });

  it('a line that only starts like the end (data: [DONE] x) ends nothing, for the outcome gate as for the forwarder', async () => {
    const hello = chatEvent({ role: 'assistant', content: 'hello' });
    for (const [name, gw] of [['checked', checked], ['plain', plain]]) {
      writeAnswer(dir, [hello, chatEvent({}, 'stop'), 'data: [DONE] x\n\n']);
      const res = await stream(gw);
      assert.equal(res.status, 200, `${name}: ${JSON.stringify(res)}`);
      const datas = res.events.map((e) => e.data);
      assert.ok(!datas.includes('[DONE]'), `${name}: ${JSON.stringify(datas)}`);
      const last = JSON.parse(datas.at(-1));
      assertShape('error', last, name);
      const expected = name === 'checked' ? /could not be checked/ : /'scripted-be' ended the stream without data: \[DONE\]/;
      assert.match(last.error.message, expected, `${name}: ${JSON.stringify(datas)}`);
    }
  });

  const error = (message) => JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } });

  it('under a policy a backend\'s JSON error is redacted before it is relayed, 4xx and 5xx, OpenAI\'s shape or another', async () => {
    const cases = [
      [400, error(`prompt 'Card ${CARD}' is invalid`), 400, (json) => json.error.message],
      [422, JSON.stringify({ error: `bad card ${CARD}` }), 422, (json) => json.error.message],
      [500, error(`failed on ${CARD}`), 502, (json) => json.error.message],
    ];
    for (const [status, body, relayedStatus, messageOf] of cases) {
      for (const [name, gw] of [['checked', checked], ['relaxed', relaxed], ['plain', plain]]) {
        const what = `${name}, ${status}`;
        writeStatusAnswer(dir, status, body);
        const res = await gw.chat(KEY, chat());
        assert.equal(res.status, relayedStatus, `${what}: ${res.text}`);
        assertShape('error', res.json, what);
        if (name === 'plain') {
          assert.ok(messageOf(res.json).includes(CARD), `${what}: ${res.text}`);
        } else {
          assert.ok(!res.text.includes('4111'), `${what}: ${res.text}`);
          assert.ok(messageOf(res.json).includes('[REDACTED:credit_card]'), `${what}: ${res.text}`);
        }
      }
    }
  });

  it('under a policy a backend\'s error has the vault\'s tokens restored, as an answer has', async () => {
    writeStatusAnswer(dir, 400, error('no mailbox {{token}}'), 'application/json', { withToken: true });
    for (const [name, gw] of [['checked', checked], ['relaxed', relaxed]]) {
      const res = await gw.chat(KEY, chat({}, 'write to jo@example.com'));
      assertError(res, { status: 400 }, name);
      assert.equal(res.json.error.message, 'no mailbox jo@example.com', `${name}: ${res.text}`);
    }
    // The backend saw the token, never the address.
    const seen = upstream.requests().map((r) => r.body).filter((b) => b?.includes('write to'));
    assert.ok(seen.length >= 2 && seen.every((b) => !b.includes('jo@example.com')), JSON.stringify(seen));
  });

  it('under a policy an error too large to check is withheld: its status kept, the gateway\'s words only', async () => {
    const large = error(`${CARD} ${'x'.repeat(70 * 1024)}`);
    writeStatusAnswer(dir, 400, large);
    for (const [name, gw] of [['checked', checked], ['relaxed', relaxed]]) {
      const res = await gw.chat(KEY, chat());
      assertError(res, { status: 400, code: 'upstream_refused' }, name);
      assert.equal(res.json.error.message, "The backend 'scripted-be' refused the request with status 400; its error " +
        'could not be checked (it is larger than 64 KiB), so it was withheld.');
    }
    const res = await plain.chat(KEY, chat());
    assert.equal(res.status, 400);
    assert.equal(res.text, large, 'relayed as it came without a policy');
  });

  it('an error body that is not JSON is never relayed: the gateway names its status, type and size', async () => {
    const text = `no card ${CARD} here`;
    writeStatusAnswer(dir, 400, text, 'text/plain');
    for (const [name, gw] of [['checked', checked], ['plain', plain]]) {
      const res = await gw.chat(KEY, chat());
      assertError(res, { status: 400, code: 'upstream_refused' }, name);
      assert.equal(res.json.error.message, "The backend 'scripted-be' refused the request with status 400 and a body that " +
        `is no OpenAI error (${Buffer.byteLength(text)} bytes of text/plain).`);
    }
  });

  it('an error the backend labels text/event-stream goes out as application/json, streamed request or not', async () => {
    writeStatusAnswer(dir, 429, error('slow down'), 'text/event-stream');
    for (const [name, gw] of [['checked', checked], ['plain', plain]]) {
      for (const body of [chat({ stream: true }), chat()]) {
        const what = `${name}, stream ${body.stream === true}`;
        const res = await gw.chat(KEY, body);
        assertError(res, { status: 429 }, what);
        assert.equal(res.headers['content-type'], 'application/json', what);
        assert.equal(res.json.error.message, 'slow down', what);
      }
    }
  });
});
