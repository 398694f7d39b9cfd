// The OpenAI-compatible API through the real gateway to real upstream processes: model lists per
// tenant, routing by model, bodies passed through, streaming, keep-alive and several workers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { readSse, rawExchange } from './lib/http.mjs';
import { assertShape, assertError } from './lib/openai_shapes.mjs';

const ALPHA_KEY = 'sk-alpha-0123456789';
const BETA_KEY = 'sk-beta-9876543210';

function apiConfig(main, other, extra = {}) {
  return {
    tenants: [
      tenant({ name: 'alpha', keys: [ALPHA_KEY], models: ['chat-model', 'embed-model'] }),
      tenant({ name: 'beta', keys: [BETA_KEY], models: ['*'] }),
    ],
    backends: [
      openaiBackend({ name: 'be-main', models: ['chat-model', 'embed-model', 'hidden-model'], upstreams: [main] }),
      openaiBackend({ name: 'be-other', models: ['other-model'], upstreams: [other] }),
    ],
    ...extra,
  };
}

const chatBody = (model, extra = {}) => ({
  model,
  messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello, ünïcødé ✓' }],
  temperature: 0.2,
  max_tokens: 16,
  ...extra,
});

describe('OpenAI API through the gateway', () => {
  let main;
  let other;
  let gw;

  before(async () => {
    main = await Upstream.start({ name: 'upstream-main', echo: true, models: ['chat-model', 'embed-model', 'hidden-model'] });
    other = await Upstream.start({ name: 'upstream-other', reply: 'Other backend here', models: ['other-model'] });
    gw = await Gateway.start(apiConfig(main, other));
  });

  after(async () => {
    await gw?.stop();
    await main?.stop();
    await other?.stop();
  });

  it('GET /v1/models lists exactly the models the tenant may use', async () => {
    const res = await gw.api({ key: ALPHA_KEY, path: '/v1/models' });
    assert.equal(res.status, 200, res.text);
    assertShape('modelList', res.json, 'alpha /v1/models');
    assert.deepEqual(res.json.data.map((m) => m.id).sort(), ['chat-model', 'embed-model']);
  });

  it('GET /v1/models/{model} describes a model the tenant may use, and no other', async () => {
    const res = await gw.api({ key: ALPHA_KEY, path: '/v1/models/chat-model' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { id: 'chat-model', object: 'model', created: 0, owned_by: 'be-main' });
    // Served but not this tenant's, not served at all, or not a model name: all not found alike.
    for (const [model, shown] of [['hidden-model', 'hidden-model'], ['no-such-model', 'no-such-model'], ['%zz', '(not a model name)']]) {
      const other = await gw.api({ key: ALPHA_KEY, path: `/v1/models/${model}` });
      assertError(other, { status: 404, code: 'model_not_found' }, model);
      assert.match(other.json.error.message, new RegExp(`'${shown.replace(/[()]/g, '\\$&')}'`));
    }
    const beta = await gw.api({ key: BETA_KEY, path: '/v1/models/hidden-model' });
    assert.equal(beta.status, 200, beta.text);
    const post = await gw.api({ key: ALPHA_KEY, method: 'POST', path: '/v1/models/chat-model', body: {} });
    assertError(post, { status: 405 }, 'POST /v1/models/chat-model');
    const anonymous = await gw.api({ path: '/v1/models/chat-model' });
    assertError(anonymous, { status: 401 }, 'no key');
  });

  it('HEAD is answered like GET without a body, authenticated the same way, on the API and admin listeners', async () => {
    // A HEAD request, then a GET on the same connection: the first answer's head must be followed
    // directly by the second answer (a body after it would be read as the next response).
    const headThenGet = async (port, target, headers = {}) => {
      const fields = Object.entries({ host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const result = await rawExchange({ port, script: async (socket, sleep) => {
        socket.write(`HEAD ${target} HTTP/1.1\r\n${fields}\r\n`);
        await sleep(300);
        socket.write(`GET /healthz-or-404 HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`);
      } });
      const raw = result.raw.toString('latin1');
      const end = raw.indexOf('\r\n\r\n') + 4;
      assert.ok(end > 4, raw);
      const head = raw.slice(0, end).split('\r\n');
      const fieldsOf = Object.fromEntries(head.slice(1).filter((l) => l.includes(':'))
        .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      assert.match(raw.slice(end), /^HTTP\/1\.1 \d{3} /, `a body followed the HEAD answer:\n${raw}`);
      return { status: Number(head[0].split(' ')[1]), headers: fieldsOf };
    };
    const alpha = { authorization: `Bearer ${ALPHA_KEY}` };
    const cases = [['/v1/models', alpha], ['/v1/models/chat-model', alpha], ['/v1/models/hidden-model', alpha],
      ['/v1/models', {}], ['/v1/models/chat-model', { authorization: 'Bearer sk-wrong' }], ['/v1/no-such-endpoint', alpha]];
    for (const [target, headers] of cases) {
      const get = await gw.api({ path: target, headers });
      const head = await headThenGet(gw.apiPort, target, headers);
      const what = `HEAD ${target} ${JSON.stringify(headers)}`;
      assert.equal(head.status, get.status, what);
      assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.text)), what);
      assert.equal(head.headers['content-type'], get.headers['content-type'], what);
      assert.ok(head.headers['x-request-id'], what);
    }
    // The endpoints that take POST alone refuse HEAD as they refuse GET.
    const headChat = await headThenGet(gw.apiPort, '/v1/chat/completions', alpha);
    assert.equal(headChat.status, 405);
    assert.equal(headChat.headers.allow, 'POST');
    const deleteModels = await gw.api({ key: ALPHA_KEY, method: 'DELETE', path: '/v1/models/chat-model' });
    assertError(deleteModels, { status: 405 }, 'DELETE /v1/models/chat-model');
    assert.equal(deleteModels.headers.allow, 'GET, HEAD');
    // The access log counts the bytes sent: none for a HEAD.
    const access = gw.stderr.split('\n').filter((l) => l.includes('"type":"access"')).map((l) => JSON.parse(l))
      .filter((l) => l.method === 'HEAD' && l.path === '/v1/models' && l.status === 200);
    assert.ok(access.length > 0 && access.every((l) => l.bytes_out === 0 && l.tenant === 'alpha'), JSON.stringify(access));
    // The admin listener: the same head as GET (the metrics' length changes from one scrape to the next).
    for (const target of ['/healthz', '/readyz', '/metrics', '/no-such-page']) {
      const get = await gw.admin(target);
      const head = await headThenGet(gw.adminPort, target);
      assert.equal(head.status, get.status, target);
      assert.equal(head.headers['content-type'], get.headers['content-type'], target);
      if (target !== '/metrics') assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.text)), target);
      else assert.ok(Number(head.headers['content-length']) > 1000, JSON.stringify(head.headers));
    }
  });

  it('a tenant allowed "*" sees every configured model', async () => {
    const res = await gw.api({ key: BETA_KEY, path: '/v1/models' });
    assert.equal(res.status, 200, res.text);
    assertShape('modelList', res.json, 'beta /v1/models');
    assert.deepEqual(res.json.data.map((m) => m.id).sort(), ['chat-model', 'embed-model', 'hidden-model', 'other-model']);
  });

  it('a non-streamed chat completion is forwarded to the backend serving the model and its answer passed through', async () => {
    const sent = chatBody('chat-model');
    const res = await gw.chat(ALPHA_KEY, sent);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'chat.completion');
    assert.equal(res.json.system_fingerprint, 'upstream-main');
    assert.equal(res.json.choices[0].message.content, 'Hello from the upstream');
    assert.deepEqual(res.json.usage, { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
    const echo = res.json.echo;
    assert.equal(echo.method, 'POST');
    assert.equal(echo.path, '/v1/chat/completions');
    assert.deepEqual(JSON.parse(echo.body), sent, 'the upstream received the request body unchanged');
    // The head the gateway writes for the backend (written directly, not through Beast's fields).
    assert.equal(echo.headers.host, `127.0.0.1:${main.port}`);
    assert.equal(echo.headers['user-agent'], 'sovereign-gateway');
    assert.equal(echo.headers.accept, 'application/json');
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.equal(echo.headers['content-length'], String(Buffer.byteLength(echo.body)));
    assert.equal(echo.headers['x-request-id'], res.headers['x-request-id']);
    assert.ok(echo.headers['x-request-id'].length > 0);
  });

  it("the tenant's API key is never forwarded to the backend", async () => {
    const res = await gw.chat(ALPHA_KEY, chatBody('chat-model'));
    assert.equal(res.status, 200, res.text);
    const forwarded = JSON.stringify(res.json.echo.headers);
    assert.ok(!forwarded.includes(ALPHA_KEY), `forwarded headers carry the tenant key: ${forwarded}`);
  });

  it('requests are routed by model: other-model reaches the other upstream', async () => {
    const before = other.requests().length;
    const res = await gw.chat(BETA_KEY, chatBody('other-model'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.system_fingerprint, 'upstream-other');
    assert.equal(res.json.choices[0].message.content, 'Other backend here');
    await other.waitForRequests(before + 1);
  });

  it('POST /v1/completions is forwarded and answered', async () => {
    const sent = { model: 'chat-model', prompt: 'Once upon a time', max_tokens: 8 };
    const res = await gw.api({ key: ALPHA_KEY, method: 'POST', path: '/v1/completions', body: sent });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'text_completion');
    assert.equal(res.json.choices[0].text, 'Hello from the upstream');
    assert.equal(res.json.echo.path, '/v1/completions');
    assert.deepEqual(JSON.parse(res.json.echo.body), sent);
  });

  it('POST /v1/embeddings is forwarded and answered', async () => {
    const sent = { model: 'embed-model', input: ['first text', 'second text'] };
    const res = await gw.api({ key: ALPHA_KEY, method: 'POST', path: '/v1/embeddings', body: sent });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, 'list');
    assert.equal(res.json.data.length, 2);
    assert.deepEqual(res.json.data[1].embedding, [0.25, -0.5, 0.25]);
    assert.equal(res.json.echo.path, '/v1/embeddings');
    assert.deepEqual(JSON.parse(res.json.echo.body), sent);
  });

  it('a streamed chat completion arrives as SSE chunks ending with [DONE]', async () => {
    const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${ALPHA_KEY}` }, body: chatBody('chat-model', { stream: true }) });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    assert.equal(res.events.at(-1).data, '[DONE]');
    const chunks = res.events.slice(0, -1).map((e) => JSON.parse(e.data));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'), JSON.stringify(chunks));
    const text = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    assert.equal(text, 'Hello from the upstream');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });

  it('a streamed text completion arrives as SSE chunks ending with [DONE]', async () => {
    const res = await readSse({ port: gw.apiPort, path: '/v1/completions',
      headers: { authorization: `Bearer ${ALPHA_KEY}` }, body: { model: 'chat-model', prompt: 'x', stream: true } });
    assert.equal(res.status, 200);
    assert.equal(res.events.at(-1).data, '[DONE]');
    const text = res.events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0].text).join('');
    assert.equal(text, 'Hello from the upstream');
  });

  it('keeps the connection alive for a second request', async () => {
    const body = JSON.stringify(chatBody('chat-model'));
    const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ALPHA_KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: 3000,
      script: async (socket, sleep) => {
        socket.write(req);
        await sleep(700);
        socket.write(req);
      },
    });
    const answers = result.raw.toString('utf8').match(/HTTP\/1\.1 200 /g) ?? [];
    assert.equal(answers.length, 2, `two answers on one connection:\n${result.raw.toString('utf8')}`);
  });
});

describe('a gateway with two workers', () => {
  let main;
  let other;
  let gw;

  before(async () => {
    main = await Upstream.start({ name: 'upstream-main', models: ['chat-model'] });
    other = await Upstream.start({ name: 'upstream-other', models: ['other-model'] });
    gw = await Gateway.start(apiConfig(main, other, { workers: 2 }));
  });

  after(async () => {
    await gw?.stop();
    await main?.stop();
    await other?.stop();
  });

  it('answers 40 concurrent requests correctly', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      gw.chat(i % 2 ? ALPHA_KEY : BETA_KEY, chatBody(i % 2 ? 'chat-model' : 'other-model'))));
    for (const [i, res] of results.entries()) {
      assert.equal(res.status, 200, `request ${i}: ${res.text}`);
      assert.equal(res.json.system_fingerprint, i % 2 ? 'upstream-main' : 'upstream-other');
    }
  });
});

describe('requests pipelined on one connection', () => {
  let slow;
  let gw;

  before(async () => {
    slow = await Upstream.start({ name: 'pipeline-upstream', 'first-byte-delay-ms': 400 });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'alpha', keys: [ALPHA_KEY], models: ['chat-model'] })],
      backends: [openaiBackend({ name: 'be-slow', models: ['chat-model'], upstreams: [slow] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await slow?.stop();
  });

  // The second request arrives (split in two) while the first is still waiting for its backend,
  // the third right behind it: each must be parsed whole once the previous answer is out.
  it('answers requests that arrived while the previous one was still waiting for its backend', async () => {
    const requestFor = (content, close = false) => {
      const body = JSON.stringify({ model: 'chat-model', messages: [{ role: 'user', content }] });
      return `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ALPHA_KEY}\r\n` +
        `X-Conversation-Id: ${content}\r\n${close ? 'Connection: close\r\n' : ''}` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    const result = await rawExchange({
      port: gw.apiPort,
      timeoutMs: 5000,
      script: async (socket, sleep) => {
        socket.write(requestFor('first'));
        await sleep(150);
        const second = requestFor('second');
        socket.write(second.slice(0, 40));  // split across reads as well
        await sleep(20);
        socket.write(second.slice(40) + requestFor('third', true));
      },
    });
    const text = result.raw.toString('utf8');
    assert.equal((text.match(/HTTP\/1\.1 200 /g) ?? []).length, 3, `three answers on one connection:\n${text}`);
    const posts = () => slow.events().filter((e) => e.event === 'request' && e.method === 'POST').length;
    await slow.process.waitUntil(() => posts() >= 3, 5000, 'the backend to report three requests');
    await new Promise((r) => setTimeout(r, 200));
    const seen = posts();
    assert.equal(seen, 3, 'each pipelined request reached the backend once');
  });
});

describe('the upstream connection pool', () => {
  const REQUESTS = 20;
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'pool-upstream' });
    gw = await Gateway.start({
      workers: 1,  // one worker, one pool: every request can find the connection the previous one left
      tenants: [tenant({ name: 'alpha', keys: [ALPHA_KEY], models: ['chat-model'] })],
      // Health checks open connections of their own: none during the test.
      backends: [openaiBackend({ name: 'be-pool', models: ['chat-model'], upstreams: [upstream],
        health: { interval_ms: 60000 } })],
    });
    // The first health check runs at start on a connection of its own; the upstream reports it
    // through a pipe, so wait for it before counting the connections the requests open.
    await upstream.process.waitUntil(
      () => upstream.events().some((e) => e.event === 'request' && e.method === 'GET' && e.path === '/v1/models'),
      5000, 'the first health check to reach the upstream');
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  it('sequential requests, each on a new client connection, reuse one upstream connection', async () => {
    const connectionsBefore = upstream.connections().length;
    for (let i = 0; i < REQUESTS; i++) {
      if (i % 2) {
        const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions',
          headers: { authorization: `Bearer ${ALPHA_KEY}` }, body: chatBody('chat-model', { stream: true }) });
        assert.equal(res.status, 200, `request ${i}`);
        assert.equal(res.events.at(-1).data, '[DONE]', `request ${i}`);
      } else {
        const res = await gw.chat(ALPHA_KEY, chatBody('chat-model'));
        assert.equal(res.status, 200, `request ${i}: ${res.text}`);
      }
    }
    await upstream.waitForRequests(REQUESTS);
    const posts = upstream.requests();
    assert.equal(posts.length, REQUESTS);
    const ports = new Set(posts.map((e) => e.remote_port));
    assert.equal(ports.size, 1, `${REQUESTS} sequential requests came over ${ports.size} upstream connections`);
    const opened = upstream.connections().length - connectionsBefore;
    assert.equal(opened, 1, `the upstream saw ${opened} new connections for ${REQUESTS} requests`);
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_upstream_pool_connections', { backend: 'be-pool', state: 'idle' }), 1,
      'the connection waits in the pool');
    assert.equal(metrics.value('sovereign_upstream_pool_connections', { backend: 'be-pool', state: 'active' }), 0);
  });
});
