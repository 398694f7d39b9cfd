// Client mistakes and abuse get OpenAI-shaped errors with the right status, and none of them
// reaches a backend: authentication, bad JSON, permissions, unknown models and paths, wrong
// methods, oversize requests, slow and idle clients.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { rawExchange } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-errors-tenant-key';
const MAX_BODY = 4096;
const TIMEOUT_MS = 600;

describe('client errors', () => {
  let upstream;
  let gw;
  let forwardedBefore;

  before(async () => {
    upstream = await Upstream.start({ name: 'upstream', models: ['allowed-model', 'other-model'] });
    gw = await Gateway.start({
      limits: {
        max_header_bytes: 8192,
        max_body_bytes: MAX_BODY,
        header_timeout_ms: TIMEOUT_MS,
        body_timeout_ms: TIMEOUT_MS,
        idle_timeout_ms: TIMEOUT_MS,
      },
      tenants: [tenant({ name: 'errors', keys: [KEY], models: ['allowed-model'] })],
      backends: [openaiBackend({ name: 'be', models: ['allowed-model', 'other-model'], upstreams: [upstream] })],
    });
    forwardedBefore = await upstream.settledRequestCount();
  });

  after(async () => {
    // None of the requests in this file may have reached the backend.
    try {
      assert.equal(upstream.requests().length, forwardedBefore,
        `requests reached the upstream: ${JSON.stringify(upstream.requests())}`);
    } finally {
      await gw?.stop();
      await upstream?.stop();
    }
  });

  const chat = { model: 'allowed-model', messages: [{ role: 'user', content: 'hi' }] };
  const auth = { code: 'invalid_api_key', type: 'authentication_error', status: 401 };

  it('401 without an Authorization header', async () => {
    assertError(await gw.chat(undefined, chat), auth, 'no key');
  });

  it('401 with a wrong key', async () => {
    assertError(await gw.chat('sk-errors-tenant-kez', chat), auth, 'wrong key');
  });

  it('401 with a malformed Authorization header', async () => {
    assertError(await gw.chat(undefined, chat, { headers: { authorization: KEY } }), auth, 'no Bearer');
    const basic = await gw.chat(undefined, chat, { headers: { authorization: 'Basic ' + Buffer.from('a:b').toString('base64') } });
    assertError(basic, auth, 'Basic auth');
    assert.match(basic.json.error.message, /holds no Bearer API key/);
  });

  it('401 for two Authorization headers, even when one holds a valid key', async () => {
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: 5000,
      script: (socket) => {
        socket.write(`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
          'Authorization: Bearer sk-someone-else\r\nConnection: close\r\n\r\n');
      },
    });
    assert.ok(result.response, `no HTTP answer: ${result.raw.toString('utf8')}`);
    assertError(result.response, auth, 'two Authorization headers');
    assert.match(result.response.json.error.message, /more than one Authorization header/);
  });

  it('401 on GET /v1/models without a key', async () => {
    assertError(await gw.api({ path: '/v1/models' }), auth, 'models without key');
  });

  it('400 for a body that is not JSON', async () => {
    assertError(await gw.chat(KEY, '{"model": "allowed-model", "messages": ['),
      { status: 400, type: 'invalid_request_error' }, 'truncated JSON');
  });

  it('400 for a JSON body that is not an object', async () => {
    assertError(await gw.chat(KEY, '[1, 2, 3]'), { status: 400, type: 'invalid_request_error' }, 'array body');
  });

  it('400 for a missing model', async () => {
    assertError(await gw.chat(KEY, { messages: chat.messages }), { status: 400, type: 'invalid_request_error' }, 'no model');
  });

  it('400 for a chat request without messages', async () => {
    assertError(await gw.chat(KEY, { model: 'allowed-model' }), { status: 400, type: 'invalid_request_error' }, 'no messages');
  });

  it('403 for a configured model the tenant may not use', async () => {
    assertError(await gw.chat(KEY, { ...chat, model: 'other-model' }),
      { status: 403, type: 'permission_error', code: 'model_not_permitted' }, 'other-model');
  });

  it('404 for a model no backend serves', async () => {
    assertError(await gw.chat(KEY, { ...chat, model: 'no-such-model' }), { status: 404, code: 'model_not_found' }, 'unknown model');
  });

  it('model names the client makes up never become metric series or log text', async () => {
    const names = ['made-up-1', 'made-up-2', 'ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'];
    for (const model of names) {
      assertError(await gw.chat(KEY, { ...chat, model }), { status: 404, code: 'model_not_found' }, model);
    }
    const metrics = await gw.metrics();
    for (const model of names) {
      assert.equal(metrics.matching('sovereign_http_requests_total', { model }).length, 0, `a series for ${model}`);
    }
    assert.ok(metrics.matching('sovereign_http_requests_total', { model: '', status: '404' }).length > 0, metrics.text);
    const logged = gw.stderr.split('\n').filter((l) => l.includes('"status":404') && l.includes('"type":"access"'));
    assert.ok(logged.length >= names.length, gw.stderr);
    for (const model of names) assert.ok(!gw.stderr.includes(model), `${model} reached the log`);
    // Names no backend could publish (spaces, control characters, 1 MB) are refused outright.
    for (const model of ['card 4111 1111 1111 1111', 'x'.repeat(257), 'a\u0000b']) {
      const res = await gw.chat(KEY, { ...chat, model });
      assertError(res, { status: 400, code: 'invalid_request' }, 'bad model name');
      assert.equal(res.json.error.param, 'model');
      assert.ok(!res.json.error.message.includes(model), res.text);
    }
  });

  it('404 for an unknown path', async () => {
    assertError(await gw.api({ key: KEY, path: '/v1/no-such-endpoint' }), { status: 404 }, 'unknown path');
  });

  it('405 with an Allow header for a wrong method on a known path', async () => {
    const chatGet = await gw.api({ key: KEY, path: '/v1/chat/completions' });
    assertError(chatGet, { status: 405 }, 'GET chat');
    assert.equal(chatGet.headers.allow, 'POST');
    const deleteModels = await gw.api({ key: KEY, method: 'DELETE', path: '/v1/models' });
    assertError(deleteModels, { status: 405 }, 'DELETE models');
    assert.equal(deleteModels.headers.allow, 'GET, HEAD');
    const adminPost = await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`, { method: 'POST' });
    assert.equal(adminPost.status, 405);
    assert.equal(adminPost.headers.get('allow'), 'GET, HEAD');
  });

  it('413 for a body larger than limits.max_body_bytes', async () => {
    const big = { ...chat, messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY * 2) }] };
    assertError(await gw.chat(KEY, big), { status: 413, code: 'request_too_large' }, 'oversize body');
  });

  it('400 for trailer fields after a chunked body, which could carry credentials a proxy never saw', async () => {
    // A model no backend serves: a request that passes the trailer check ends in 404, not upstream.
    const body = JSON.stringify({ ...chat, model: 'no-such-model' });
    const send = (trailer, auth = '') => rawExchange({
      port: gw.apiPort,
      timeoutMs: 5000,
      script: (socket) => {
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}` +
          'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
          `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n${trailer}\r\n`);
      },
    });
    const smuggled = await send(`Authorization: Bearer ${KEY}\r\n`);
    assert.ok(smuggled.response, `no HTTP answer: ${smuggled.raw.toString('utf8')}`);
    assertError(smuggled.response, { status: 400, code: 'invalid_request' }, 'Authorization as a trailer');
    assert.match(smuggled.response.json.error.message, /Trailer fields/);
    const declared = await send('X-Data-Class: public\r\n', `Authorization: Bearer ${KEY}\r\n`);
    assertError(declared.response, { status: 400, code: 'invalid_request' }, 'X-Data-Class as a trailer');
    // Without trailers the same chunked request goes on to be decided (404: no such model).
    const plain = await send('', `Authorization: Bearer ${KEY}\r\nConnection: close\r\n`);
    assertError(plain.response, { status: 404, code: 'model_not_found' }, 'chunked without trailers');
  });

  it('400 and close for a Transfer-Encoding other than chunked, whose body would otherwise be read as the next request', async () => {
    const smuggled = `GET /v1/models/allowed-model HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`;
    const chunk = `${Buffer.byteLength(smuggled).toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const cases = [
      { name: 'gzip', headers: 'Transfer-Encoding: gzip\r\n', body: smuggled, message: /Transfer-Encoding 'gzip' is not supported/ },
      { name: 'gzip, chunked', headers: 'Transfer-Encoding: gzip, chunked\r\n', body: chunk, message: /Transfer-Encoding 'gzip, chunked'/ },
      { name: 'two fields', headers: 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', body: chunk, message: /Transfer-Encoding 'gzip, chunked'/ },
      { name: 'gzip and Content-Length', headers: `Transfer-Encoding: gzip\r\nContent-Length: ${Buffer.byteLength(smuggled)}\r\n`, body: smuggled,
        message: /both Transfer-Encoding and Content-Length/ },
      { name: 'Content-Length and chunked', headers: `Content-Length: ${Buffer.byteLength(chunk)}\r\nTransfer-Encoding: chunked\r\n`, body: chunk,
        message: /Transfer-Encoding|Content-Length/ },
      { name: 'chunked and Content-Length', headers: `Transfer-Encoding: chunked\r\nContent-Length: ${Buffer.byteLength(chunk)}\r\n`, body: chunk,
        message: /Transfer-Encoding|Content-Length/ },
    ];
    for (const c of cases) {
      const result = await rawExchange({
        port: gw.apiPort,
        timeoutMs: 5000,
        script: (socket) => {
          socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
            `${c.headers}\r\n${c.body}`);
        },
      });
      const raw = result.raw.toString('utf8');
      assert.ok(result.response, `${c.name}: no HTTP answer: ${raw}`);
      assertError(result.response, { status: 400, code: 'invalid_request' }, c.name);
      assert.match(result.response.json.error.message, c.message, c.name);
      assert.equal((raw.match(/HTTP\/1\.1 /g) ?? []).length, 1, `${c.name}: the body was answered as a request: ${raw}`);
      assert.ok(result.closed, `${c.name}: the connection is closed`);
    }
  });

  it('400 and close for an HTTP/1.1 request without a Host header or with two', async () => {
    const auth = `Authorization: Bearer ${KEY}\r\n`;
    for (const [name, head, message] of [
      ['no Host', `GET /v1/models HTTP/1.1\r\n${auth}\r\n`, /must carry a Host header/],
      ['two Host headers', `GET /v1/models HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n${auth}\r\n`, /only one Host header/],
    ]) {
      const result = await rawExchange({ port: gw.apiPort, timeoutMs: 5000, script: (socket) => socket.write(head) });
      assert.ok(result.response, `${name}: no HTTP answer: ${result.raw.toString('utf8')}`);
      assertError(result.response, { status: 400, code: 'invalid_request' }, name);
      assert.match(result.response.json.error.message, message, name);
      assert.ok(result.closed, `${name}: the connection is closed`);
    }
    // HTTP/1.0 may leave Host out.
    const old = await rawExchange({ port: gw.apiPort, timeoutMs: 5000,
      script: (socket) => socket.write(`GET /v1/models HTTP/1.0\r\n${auth}\r\n`) });
    assert.equal(old.response?.status, 200, old.raw.toString('utf8'));
  });

  it('400 for a malformed chunked body, whether it arrives with the header or after it', async () => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
      'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const badChunk = '5\r\n{"mod\r\nzz\r\nel":1}\r\n0\r\n\r\n';
    for (const [name, script] of [
      ['in one segment', (socket) => socket.write(head + badChunk)],
      ['after the header', async (socket, sleep) => {
        socket.write(head);
        await sleep(200);
        socket.write(badChunk);
      }],
    ]) {
      const result = await rawExchange({ port: gw.apiPort, timeoutMs: 5000, script });
      assert.ok(result.response, `${name}: no HTTP answer: ${result.raw.toString('utf8')}`);
      assertError(result.response, { status: 400, code: 'invalid_request' }, name);
      assert.match(result.response.json.error.message, /Malformed HTTP request body/, name);
      assert.ok(result.closed, `${name}: the connection is closed`);
    }
  });

  it('what the HTTP layer refuses carries X-Request-Id, has an access log line and counts under its status', async () => {
    const cases = [
      { name: 'malformed request line', status: 400, code: 'invalid_request', send: 'NOT HTTP AT ALL\r\n\r\n' },
      { name: 'headers too large', status: 413, code: 'request_too_large',
        send: `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(10000)}\r\n\r\n` },
      { name: 'refused Transfer-Encoding', status: 400, code: 'invalid_request', path: '/v1/chat/completions',
        send: 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n' },
      { name: 'stalled header', status: 408, code: 'request_timeout', send: 'GET /v1/models HTTP/1.1\r\nHost: 1' },
    ];
    const counted = (m, status) => m.value('sovereign_http_requests_total', { status: String(status) }) ?? 0;
    for (const c of cases) {
      const before = counted(await gw.metrics(), c.status);
      const stderrBefore = gw.stderr.length;
      const result = await rawExchange({ port: gw.apiPort, timeoutMs: TIMEOUT_MS + 5000, script: (socket) => socket.write(c.send) });
      assert.ok(result.response, `${c.name}: no HTTP answer: ${result.raw.toString('utf8')}`);
      assertError(result.response, { status: c.status, code: c.code }, c.name);
      const id = result.response.headers['x-request-id'];
      assert.match(id ?? '', /^req_[0-9a-f]{16}$/, `${c.name}: X-Request-Id`);
      const log = await gw.waitForStderr(new RegExp(`"request_id":"${id}"`), stderrBefore, 5000, `${c.name}: its access log line`);
      const line = JSON.parse(log.split('\n').find((l) => l.includes(id)));
      assert.equal(line.type, 'access', JSON.stringify(line));
      assert.equal(line.status, c.status, JSON.stringify(line));
      assert.equal(line.error, c.code, JSON.stringify(line));
      if (c.path) assert.equal(line.path, c.path, JSON.stringify(line));
      await gw.waitForMetrics((m) => counted(m, c.status) === before + 1, 5000, `${c.name}: counted under ${c.status}`);
    }
  });

  it('400 for a repeated X-Data-Class or X-Conversation-Id header', async () => {
    for (const name of ['X-Data-Class', 'X-Conversation-Id']) {
      const result = await rawExchange({
        port: gw.apiPort,
        timeoutMs: 5000,
        script: (socket) => {
          const body = JSON.stringify(chat);
          socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
            `${name}: a\r\n${name}: b\r\nContent-Type: application/json\r\nConnection: close\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        },
      });
      assert.ok(result.response, `no HTTP answer: ${result.raw.toString('utf8')}`);
      assertError(result.response, { status: 400, code: 'invalid_request' }, `two ${name} headers`);
      assert.match(result.response.json.error.message, new RegExp(`more than one ${name}`));
    }
  });

  it('413 for a chunked body that grows past limits.max_body_bytes', async () => {
    const piece = 'x'.repeat(1024);
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: 5000,
      script: async (socket) => {
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
          'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let i = 0; i < 8; i++) socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
        socket.write('0\r\n\r\n');
      },
    });
    assert.ok(result.response, `no HTTP answer: ${result.raw.toString('utf8')}`);
    assertError(result.response, { status: 413, code: 'request_too_large' }, 'chunked oversize body');
  });

  it('413 for request headers larger than limits.max_header_bytes', async () => {
    const res = await gw.chat(KEY, chat, { headers: { 'x-padding': 'p'.repeat(10000) } });
    assertError(res, { status: 413, code: 'request_too_large' }, 'oversize headers');
    assert.match(res.json.error.message, /request headers are larger than the gateway's limit/);
    // Many small headers in one segment, up to twice the limit: the whole head counts, not what one
    // parse step sees.
    const many = Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    for (const count of [800, 1000]) {
      const headers = many.split('\r\n').slice(0, count).join('\r\n') + '\r\n';
      const burst = await rawExchange({ port: gw.apiPort, timeoutMs: 5000, script: (socket) =>
        socket.write(`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n${headers}\r\n`) });
      assertError(burst.response, { status: 413, code: 'request_too_large' }, `${count} headers in one segment`);
    }
  });

  it('408 and close when the request headers do not arrive within header_timeout_ms', async () => {
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: TIMEOUT_MS + 5000,
      script: (socket) => socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
    });
    assert.ok(result.closed, 'the connection is closed');
    assert.equal(result.response?.status, 408, `answer: ${result.raw.toString('utf8')}`);
    assert.ok(result.elapsedMs >= TIMEOUT_MS - 50, `closed after ${result.elapsedMs} ms, before the timeout`);
  });

  it('408 for a slow client trickling its headers one byte at a time', async () => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
      'X-Slow: ' + 'a'.repeat(200) + '\r\n\r\n';
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: TIMEOUT_MS + 5000,
      script: async (socket, sleep) => {
        for (const byte of head) {
          if (socket.destroyed) return;
          socket.write(byte);
          await sleep(20);
        }
      },
    });
    assert.ok(result.closed, 'the connection is closed');
    assert.equal(result.response?.status, 408, `answer: ${result.raw.toString('utf8')}`);
    assert.ok(result.elapsedMs < TIMEOUT_MS + 3000, `took ${result.elapsedMs} ms: the header deadline is per request, not per byte`);
  });

  it('408 and close when the body does not arrive within body_timeout_ms', async () => {
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: TIMEOUT_MS + 5000,
      script: (socket) => socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":'),
    });
    assert.ok(result.closed, 'the connection is closed');
    assert.equal(result.response?.status, 408, `answer: ${result.raw.toString('utf8')}`);
  });

  it('closes a keep-alive connection that stays idle past idle_timeout_ms', async () => {
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: TIMEOUT_MS + 5000,
      script: (socket) => socket.write(`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`),
    });
    assert.ok(result.closed, 'the idle connection is closed');
    assert.equal(result.response?.status, 200, `first answer: ${result.raw.toString('utf8')}`);
    assert.equal((result.raw.toString('utf8').match(/HTTP\/1\.1 /g) ?? []).length, 1, 'nothing but the one answer');
  });
});

// idle_timeout bounds the wait for a keep-alive connection's next request; once that request's
// first bytes arrive, its header must complete within header_timeout, as the first one's must.
describe('header timeout on a keep-alive connection', () => {
  const HEADER_TIMEOUT_MS = 600;
  const IDLE_TIMEOUT_MS = 8000;
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'upstream', models: ['allowed-model'] });
    gw = await Gateway.start({
      limits: { header_timeout_ms: HEADER_TIMEOUT_MS, body_timeout_ms: HEADER_TIMEOUT_MS, idle_timeout_ms: IDLE_TIMEOUT_MS },
      tenants: [tenant({ name: 'errors', keys: [KEY], models: ['allowed-model'] })],
      backends: [openaiBackend({ name: 'be', models: ['allowed-model'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  const get = `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`;

  it('408 when a later request trickles its headers past header_timeout_ms', async () => {
    const second = `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
    let secondStarted;
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: IDLE_TIMEOUT_MS + 5000,
      script: async (socket, sleep) => {
        socket.write(get);
        await sleep(300);  // answered, and idle for a while: the idle timeout applies
        secondStarted = Date.now();
        for (const byte of second) {
          if (socket.destroyed) return;
          socket.write(byte);
          await sleep(20);
        }
      },
    });
    const raw = result.raw.toString('utf8');
    assert.ok(result.closed, 'the connection is closed');
    assert.match(raw, /^HTTP\/1\.1 200 /, `first answer: ${raw}`);
    const answers = raw.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.deepEqual(answers, ['HTTP/1.1 200', 'HTTP/1.1 408'], raw);
    const closedAfter = Date.now() - secondStarted;
    assert.ok(closedAfter < HEADER_TIMEOUT_MS + 2000, `closed ${closedAfter} ms after the second request started: idle_timeout applied`);
  });

  it('a keep-alive connection may wait longer than header_timeout_ms between requests', async () => {
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: 10000,
      script: async (socket, sleep) => {
        socket.write(get);
        await sleep(HEADER_TIMEOUT_MS * 2);
        socket.write(get.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
      },
    });
    const raw = result.raw.toString('utf8');
    assert.deepEqual(raw.match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 200', 'HTTP/1.1 200'], raw);
  });
});
