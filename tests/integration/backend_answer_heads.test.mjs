// What the gateway does with the heads a real backend (or a proxy in front of one) may send besides
// "200 OK, Content-Length": interim 1xx heads before the answer, transfer codings other than
// chunked, a compressed stream, an error status on an event stream, a whole answer where a stream
// was asked for, Retry-After, a head it cannot parse. Each odd answer is written byte for byte by
// the upstream (its script's raw answers), past any HTTP library, with and without a policy that
// checks answers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, bearer, openaiBackend, tempDir, tenant, stopAndRemove } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { readSse } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { sitePolicy } from './lib/policies.mjs';

const KEY = 'sk-answer-heads';
const CARD = '4111 1111 1111 1111';
const QUIET_HEALTH = { interval_ms: 60000, unhealthy_after: 1000 };

const POLICY = sitePolicy({ name: 'answer-heads-itest', defaultClearance: 'confidential', tenants: ['heads'],
  redactInAnswers: ['credit_card'] });

// The upstream's answers, chosen by the last user message. Raw ones are whole HTTP answers.
const SCRIPT = `import zlib from 'node:zlib';
const CARD = ${JSON.stringify(CARD)};
const answer = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'card ' + CARD }, finish_reason: 'stop' }] });
const events = 'data: ' + JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm',
  choices: [{ index: 0, delta: { content: 'card ' + CARD }, finish_reason: null }] }) + '\\n\\ndata: [DONE]\\n\\n';
// A raw answer ends with the connection closed, so its final head says so, as a server that closes
// does: otherwise the gateway pools a connection the backend is closing, and the next request written
// on it races that close (a POST is not resent once written, since the backend may have run it).
const head = (status, fields) => 'HTTP/1.1 ' + status + '\\r\\n' +
  fields.concat(status.startsWith('1') ? [] : ['Connection: close']).map((f) => f + '\\r\\n').join('') + '\\r\\n';
const json = (body) => head('200 OK', ['Content-Type: application/json', 'Content-Length: ' + Buffer.byteLength(body)]) + body;
const chunked = (bytes) => Buffer.concat([Buffer.from(bytes.length.toString(16) + '\\r\\n'), bytes, Buffer.from('\\r\\n0\\r\\n\\r\\n')]);
const error = (message) => JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } });
export default function respond({ body }) {
  switch (body.messages.at(-1).content) {
    case 'interim':
      return { raw: true, chunks: [head('100 Continue', []) + head('103 Early Hints', ['Link: </a.css>; rel=preload']) + json(answer)] };
    case 'interim-in-pieces':
      return { raw: true, chunkDelayMs: 30, chunks: [head('100 Continue', []), head('102 Processing', []), json(answer)] };
    case 'endless-interim':
      return { raw: true, chunks: [head('103 Early Hints', []).repeat(20)], stallMs: 2000 };
    case 'gzip-transfer-coding':
      return { raw: true, chunks: [Buffer.concat([
        Buffer.from(head('200 OK', ['Content-Type: text/event-stream', 'Transfer-Encoding: gzip, chunked'])),
        chunked(zlib.gzipSync(events))])] };
    case 'gzip-stream': {
      const gz = zlib.gzipSync(events);
      return { raw: true, chunks: [Buffer.concat([Buffer.from(head('200 OK', ['Content-Type: text/event-stream',
        'Content-Encoding: gzip', 'Content-Length: ' + gz.length])), gz])] };
    }
    case 'stream-500': {
      const sse = 'data: ' + error('engine crashed: ' + CARD) + '\\n\\n';
      return { raw: true, chunks: [head('500 Internal Server Error', ['Content-Type: text/event-stream',
        'Content-Length: ' + Buffer.byteLength(sse)]) + sse] };
    }
    case 'untyped-stream':
      return { raw: true, chunks: [head('200 OK', ['Content-Length: ' + Buffer.byteLength(events)]) + events] };
    case 'busy-429':
      return { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '17' }, chunks: [error('slow down')] };
    case 'busy-503':
      return { status: 503, headers: { 'content-type': 'application/json', 'retry-after': 'Wed, 25 Nov 2026 10:00:00 GMT' },
        chunks: [error('overloaded')] };
    case 'garbled-retry-after':
      return { status: 429, headers: { 'content-type': 'application/json', 'retry-after': 'in a while' }, chunks: [error('slow down')] };
    case 'proxy-413': {
      const page = '<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>';
      return { raw: true, chunks: [head('413 Request Entity Too Large', ['Content-Type: text/html',
        'Content-Length: ' + Buffer.byteLength(page)]) + page] };
    }
    case 'empty-400':
      return { raw: true, chunks: [head('400 Bad Request', ['Content-Length: 0'])] };
    case 'vllm-400': {
      const old = JSON.stringify({ object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', param: null, code: 400 });
      return { raw: true, chunks: [head('400 Bad Request', ['Content-Type: application/json', 'Content-Length: ' + Buffer.byteLength(old)]) + old] };
    }
    case 'no-content-204':
      return { raw: true, chunks: [head('204 No Content', [])] };
    case 'empty-200':
      return { raw: true, chunks: [head('200 OK', ['Content-Type: application/json', 'Content-Length: 0'])] };
    case 'empty-stream':
      return { raw: true, chunks: [head('200 OK', ['Content-Type: text/event-stream', 'Content-Length: 0'])], stallMs: 5000 };
    case 'bad-head':
      return { raw: true, chunks: [head('200 OK', ['Content-Type: application/json', 'this is no header field']) + answer] };
    default:
      return { headers: { 'content-type': 'application/json' }, chunks: [answer] };
  }
}
`;

const chat = (content, extra = {}) => ({ model: 'm', messages: [{ role: 'user', content }], ...extra });

describe('odd answer heads from a backend', { timeout: 120000 }, () => {
  let dir;
  let upstream;
  let checked;  // a gateway whose policy checks answers
  let plain;    // one without a policy: answers go out as the backend sent them

  before(async () => {
    dir = tempDir('sovereign-answer-heads-');
    fs.writeFileSync(path.join(dir, 'answers.mjs'), SCRIPT);
    fs.writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
    upstream = await Upstream.start({ name: 'heads', script: path.join(dir, 'answers.mjs') });
    const config = {
      tenants: [tenant({ name: 'heads', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'odd-heads', models: ['m'], upstreams: [upstream], health: QUIET_HEALTH })],
    };
    checked = await Gateway.start({ ...config, policy: path.join(dir, 'policy.yaml') });
    plain = await Gateway.start(config);
  });

  after(async () => {
    await stopAndRemove(dir, checked, plain, upstream);
  });

  const stream = (gw, content) => readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
    body: chat(content, { stream: true }) });

  it('interim 1xx heads (100 Continue, 102, 103 Early Hints) are read past to the answer', async () => {
    for (const content of ['interim', 'interim-in-pieces']) {
      const res = await checked.chat(KEY, chat(content));
      assert.equal(res.status, 200, `${content}: ${res.text}`);
      assert.equal(res.json.choices[0].message.content, 'card [REDACTED:credit_card]', content);
      const unchecked = await plain.chat(KEY, chat(content));
      assert.equal(unchecked.status, 200, `${content}: ${unchecked.text}`);
      assert.equal(unchecked.json.choices[0].message.content, `card ${CARD}`, content);
    }
  });

  it('a backend that sends interim heads without end gets 502 saying so, not a hang', async () => {
    const res = await plain.chat(KEY, chat('endless-interim'));
    assertError(res, { status: 502, code: 'upstream_error' });
    assert.match(res.json.error.message, /more than 8 interim \(1xx\) answers/);
  });

  it('an answer in a transfer coding the gateway does not decode (gzip) is withheld, checked or not', async () => {
    const res = await stream(checked, 'gzip-transfer-coding');
    assert.equal(res.status, 502, JSON.stringify(res));
    const error = JSON.parse(res.rest).error;
    assert.equal(error.code, 'response_check_failed');
    assert.match(error.message, /Transfer-Encoding: gzip, chunked, which the gateway does not decode/);
    const unchecked = await plain.chat(KEY, chat('gzip-transfer-coding', { stream: true }));
    assertError(unchecked, { status: 502, code: 'upstream_error' });
    assert.match(unchecked.json.error.message, /Transfer-Encoding: gzip, chunked/);
  });

  it('a compressed stream relayed without a policy keeps its Content-Encoding, so the client can read it', async () => {
    const res = await fetch(`http://127.0.0.1:${plain.apiPort}/v1/chat/completions`, {
      method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json' },
      body: JSON.stringify(chat('gzip-stream', { stream: true })) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-encoding'), 'gzip');
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const text = await res.text();  // fetch decodes it as Content-Encoding says
    assert.match(text, /"content":"card 4111 1111 1111 1111"/);
    assert.match(text, /data: \[DONE\]/);
  });

  it('a 5xx event stream answering a streamed request is 502 upstream_error in the gateway\'s shape', async () => {
    for (const gw of [checked, plain]) {
      const res = await gw.chat(KEY, chat('stream-500', { stream: true }));
      assertError(res, { status: 502, code: 'upstream_error' });
      assert.match(res.json.error.message, /backend 'odd-heads' answered 500/);
      assert.ok(!res.text.includes('4111'), res.text);
    }
  });

  it('a whole JSON answer to a streamed request is 502, not an empty stream the client would take for the answer', async () => {
    for (const gw of [checked, plain]) {
      const res = await gw.chat(KEY, chat('hello', { stream: true }));
      assertError(res, { status: 502, code: 'upstream_error' });
      assert.match(res.json.error.message,
        /answered the streamed request with a whole answer \(200, Content-Type: application\/json\) instead of an event stream/);
      assert.ok(!res.text.includes('4111'), res.text);
    }
    const asked = await checked.chat(KEY, chat('hello'));  // the same answer, asked without stream
    assert.equal(asked.status, 200, asked.text);
  });

  it('a streamed answer that names no Content-Type is relayed as the stream it was asked for', async () => {
    const res = await stream(checked, 'untyped-stream');
    assert.equal(res.status, 200, JSON.stringify(res));
    assert.equal(res.headers['content-type'], 'text/event-stream');
    assert.deepEqual(res.events.map((e) => e.data).slice(-1), ['[DONE]']);
    const text = res.events.map((e) => e.data).join('\n');
    assert.match(text, /\[REDACTED:credit_card\]/);
    assert.ok(!text.includes('4111'), text);
  });

  it('the backend\'s Retry-After reaches the client: on a relayed 429 and on the 502 made of its 503', async () => {
    const busy = await plain.chat(KEY, chat('busy-429'));
    assert.equal(busy.status, 429, busy.text);
    assert.equal(busy.headers['retry-after'], '17');
    const down = await checked.chat(KEY, chat('busy-503'));
    assertError(down, { status: 502, code: 'upstream_error' });
    assert.equal(down.headers['retry-after'], 'Wed, 25 Nov 2026 10:00:00 GMT');
    const garbled = await plain.chat(KEY, chat('garbled-retry-after'));
    assert.equal(garbled.status, 429, garbled.text);
    assert.equal(garbled.headers['retry-after'], undefined, 'a Retry-After no client can read is not passed on');
  });

  it('a refusal whose body is no OpenAI error keeps its status and gets OpenAI\'s shape: a proxy page, nothing, vLLM\'s old shape', async () => {
    for (const gw of [plain, checked]) {
      const page = await gw.chat(KEY, chat('proxy-413'));
      assertError(page, { status: 413, type: 'invalid_request_error', code: 'upstream_refused' });
      assert.match(page.json.error.message, /'odd-heads' refused the request with status 413 and a body that is no OpenAI error \(\d+ bytes of text\/html\)/);
      const empty = await gw.chat(KEY, chat('empty-400'));
      assertError(empty, { status: 400, code: 'upstream_refused' });
      assert.match(empty.json.error.message, /status 400 and an empty body/);
      const vllm = await gw.chat(KEY, chat('vllm-400'));
      assertError(vllm, { status: 400, code: 'upstream_refused' });
      assert.match(vllm.json.error.message, /refused the request with status 400: max_tokens is too large\.$/);
    }
    const busy = await plain.chat(KEY, chat('busy-429'));
    assert.equal(busy.json.error.message, 'slow down', 'an OpenAI error body is relayed as it is');
  });

  it('a success that carries no body (204, an empty 200) is 502, not an answer the client would read as null', async () => {
    for (const gw of [plain, checked]) {
      for (const content of ['no-content-204', 'empty-200']) {
        const res = await gw.chat(KEY, chat(content));
        assertError(res, { status: 502, code: 'upstream_error' }, content);
        assert.match(res.json.error.message, /'odd-heads' answered 20[04] with no body, where an answer was expected/);
      }
    }
  });

  it('an event stream with no body (Content-Length: 0, 204) is 502 at once, not an empty answer nor a wait for timeout_ms', async () => {
    for (const gw of [plain, checked]) {
      for (const [content, status] of [['empty-stream', 200], ['no-content-204', 204]]) {
        const started = Date.now();
        const res = await gw.chat(KEY, chat(content, { stream: true }));
        assertError(res, { status: 502, code: 'upstream_error' }, content);
        assert.match(res.json.error.message, new RegExp(`'odd-heads' answered the streamed request with ${status} and no body`));
        assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);
      }
    }
  });

  it('a head the gateway cannot parse is reported as such, not as a backend that closed without answering', async () => {
    const res = await plain.chat(KEY, chat('bad-head'));
    assertError(res, { status: 502, code: 'upstream_error' });
    assert.match(res.json.error.message, /answered with a head the gateway cannot read \(bad field\)/);
    assert.doesNotMatch(res.json.error.message, /without answering/);
  });

  it('a plain answer still goes through both gateways as before', async () => {
    const res = await checked.chat(KEY, chat('hello'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices[0].message.content, 'card [REDACTED:credit_card]');
  });
});
