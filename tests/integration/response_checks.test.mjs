// Answers the gateway must check (a policy is in force) and cannot: compressed, not JSON, an event
// stream nobody asked for. Each is withheld with 502 response_check_failed instead of reaching the
// client unchecked. Statuses that are no final answer (a redirect, numbers outside HTTP's classes)
// become 502 too, while a status the gateway does not know by name is relayed with its number.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tempDir, tenant, stopAndRemove } from './lib/gateway.mjs';
import { rawExchange } from './lib/http.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { sitePolicy } from './lib/policies.mjs';

const KEY = 'sk-response-checks';
const CARD = '4111 1111 1111 1111';

const POLICY = sitePolicy({ name: 'response-checks-itest', defaultClearance: 'confidential',
  zoneDescription: 'every upstream of this test', tenants: ['checks'], redactInAnswers: ['credit_card'] });

describe('answers that cannot be checked are withheld', () => {
  const upstreams = {};
  let gw;
  let dir;

  const kinds = {
    gzip: { 'answer-as': 'gzip' },
    text: { 'answer-as': 'text' },
    sse: { 'answer-as': 'sse' },
    redirect: { 'answer-status': 307 },
    odd: { 'answer-status': 299 },
    logprobs: { logprobs: true },
    plain: {},
  };

  before(async () => {
    dir = tempDir('sovereign-response-checks-');
    const policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);
    for (const [kind, flags] of Object.entries(kinds)) {
      upstreams[kind] = await Upstream.start({ name: kind, reply: `Card ${CARD} on file.`, ...flags });
    }
    gw = await Gateway.start({
      tenants: [tenant({ name: 'checks', keys: [KEY], models: ['*'] })],
      backends: Object.keys(kinds).map((kind) =>
        openaiBackend({ name: `${kind}-be`, zone: 'site', models: [`${kind}-model`], upstreams: [upstreams[kind]] })),
      policy: policyFile,
    });
  });

  after(async () => {
    await stopAndRemove(dir, gw, ...Object.values(upstreams));
  });

  const chat = (kind) => gw.chat(KEY, { model: `${kind}-model`, messages: [{ role: 'user', content: 'hello' }] });

  it('a plain JSON answer is checked and passed on (the card redacted)', async () => {
    const res = await chat('plain');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices[0].message.content, 'Card [REDACTED:credit_card] on file.');
  });

  for (const [kind, what] of [['gzip', /Content-Encoding: gzip/], ['text', /not JSON/], ['sse', /answered a request that did not ask for a stream with an event stream/]]) {
    it(`a ${kind} answer is withheld with 502 response_check_failed`, async () => {
      const res = await chat(kind);
      assertError(res, { status: 502, code: 'response_check_failed' }, `${kind} answer`);
      assert.match(res.json.error.message, what);
      assert.ok(!res.text.includes('4111'), res.text);
    });
  }

  it('a withheld whole answer leaves its keep-alive connection open: the next request on it is answered', async () => {
    // The 502 is whole, with its length, and its head keeps the connection: closing it afterwards
    // would fail the next request a keep-alive client sends on it.
    const request = (model) => {
      const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
      return `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: 3000,
      script: async (socket, sleep) => {
        socket.write(request('sse-model'));
        await sleep(500);
        socket.write(request('plain-model'));
      },
    });
    const text = result.raw.toString('utf8');
    assert.match(text, /^HTTP\/1\.1 502 /, text);
    assert.doesNotMatch(text, /Connection: close/i, text);
    assert.match(text, /response_check_failed[\s\S]*HTTP\/1\.1 200 [\s\S]*Card \[REDACTED:credit_card\] on file\./, text);
  });

  it('a request for log probabilities is refused: they would carry the answer unredacted', async () => {
    for (const [extra, param] of [[{ logprobs: true }, 'logprobs'], [{ logprobs: true, top_logprobs: 2 }, 'logprobs'],
      [{ top_logprobs: 3 }, 'top_logprobs'], [{ n_probs: 2 }, 'n_probs']]) {
      const res = await gw.chat(KEY, { model: 'plain-model', messages: [{ role: 'user', content: 'hello' }], ...extra });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(extra));
      assert.equal(res.json.error.param, param);
      assert.match(res.json.error.message, /redacts values from answers/);
    }
    const res = await gw.chat(KEY, { model: 'plain-model', messages: [{ role: 'user', content: 'hello' }], logprobs: false });
    assert.equal(res.status, 200, res.text);
  });

  it('log probabilities a backend sends unasked are withheld, plain and streamed', async () => {
    const res = await chat('logprobs');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices[0].message.content, 'Card [REDACTED:credit_card] on file.');
    assert.equal(res.json.choices[0].logprobs, null);
    assert.ok(!res.text.includes('4111'), res.text);
    const streamed = await gw.chat(KEY, { model: 'logprobs-model', stream: true, messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(streamed.status, 200, streamed.text);
    assert.ok(!streamed.text.includes('4111') && !streamed.text.includes(' 1111'), streamed.text);
    assert.match(streamed.text, /"logprobs":null/);
  });

  it('the gateway asks backends for uncompressed answers', async () => {
    const before = upstreams.plain.requests().length;
    assert.equal((await chat('plain')).status, 200);
    await upstreams.plain.waitForRequests(before + 1);
    assert.equal(upstreams.plain.requests()[before].headers['accept-encoding'], 'identity');
  });

  it('a redirect is not followed and not relayed: 502', async () => {
    const res = await chat('redirect');
    assertError(res, { status: 502, code: 'upstream_error' }, 'redirect');
    assert.match(res.json.error.message, /status 307, which the gateway does not relay/);
  });

  it('a 2xx status without a name is relayed with its number, and the answer still checked', async () => {
    const res = await chat('odd');
    assert.equal(res.status, 299, res.text);
    assert.equal(res.json.choices[0].message.content, 'Card [REDACTED:credit_card] on file.');
  });
});
