// Backends that fail in each way a real one does — error status, dying before or during the
// answer, answering too slowly, refusing connections, failing health checks — give the client
// the specific OpenAI error for that failure, never a hang or a fake answer.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream, UnacceptingListener } from './lib/upstream.mjs';
import { freePort } from './lib/ports.mjs';
import { rawExchange, readSse } from './lib/http.mjs';
import { assertError, assertShape } from './lib/openai_shapes.mjs';

const KEY = 'sk-failures-tenant';
const BACKEND_TIMEOUT_MS = 800;
const SLOW_HEALTH = { interval_ms: 60000, unhealthy_after: 2 };
const CONNECT_TIMEOUT_MS = 300;
const OPEN_MS = 500;

const chat = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('upstream failures', () => {
  const up = {};
  let deadPort;
  let laterPort;
  let halfOpenPort;
  let gw;

  before(async () => {
    up.status500 = await Upstream.start({ name: 'u500', status: 500 });
    up.dieBefore = await Upstream.start({ name: 'udie', 'die-before-response': true });
    up.slow = await Upstream.start({ name: 'uslow', 'first-byte-delay-ms': 5000 });
    up.refuse = await Upstream.start({ name: 'urefuse', refuse: true });
    up.unhealthy = await Upstream.start({ name: 'usick', 'health-status': 503 });
    up.hinted = await Upstream.start({ name: 'uhinted', 'health-early-hints': true });
    up.redirecting = await Upstream.start({ name: 'uredirect', 'health-status': 302 });
    up.killed = await Upstream.start({ name: 'ukilled' });
    up.midStream = await Upstream.start({ name: 'umid', chunks: 6, 'die-after-chunks': 2, 'chunk-delay-ms': 50 });
    // Its second piece comes after the backend's timeout_ms: the stream starts, then stalls past it.
    up.midStall = await Upstream.start({ name: 'umidstall', chunks: 3, 'chunk-delay-ms': BACKEND_TIMEOUT_MS * 3 });
    up.good = await Upstream.start({ name: 'ugood' });
    up.breaker = await Upstream.start({ name: 'ubreaker', status: 500 });
    up.dieA = await Upstream.start({ name: 'udie-a', 'die-before-response': true });
    up.goodA = await Upstream.start({ name: 'ugood-a' });
    up.dieB = await Upstream.start({ name: 'udie-b', 'die-before-response': true });
    up.goodB = await Upstream.start({ name: 'ugood-b' });
    up.status503 = await Upstream.start({ name: 'u503', status: 503 });
    up.status502 = await Upstream.start({ name: 'u502', status: 502 });
    up.status401 = await Upstream.start({ name: 'u401', status: 401 });
    up.status400 = await Upstream.start({ name: 'u400', status: 400 });
    up.goodC = await Upstream.start({ name: 'ugood-c' });
    up.slow500 = await Upstream.start({ name: 'uslow500', status: 500, 'first-byte-delay-ms': 300 });
    // Each takes 60% of the backend timeout to answer 503: two attempts would outlast it.
    up.slow503A = await Upstream.start({ name: 'uslow503-a', status: 503, 'first-byte-delay-ms': BACKEND_TIMEOUT_MS * 0.6 });
    up.slow503B = await Upstream.start({ name: 'uslow503-b', status: 503, 'first-byte-delay-ms': BACKEND_TIMEOUT_MS * 0.6 });
    halfOpenPort = await freePort();
    up.unaccepting = await UnacceptingListener.start();
    deadPort = await freePort();
    laterPort = await freePort();
    gw = await Gateway.start({
      tenants: [tenant({ name: 'failures', keys: [KEY], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'be-500', models: ['m-500'], upstreams: [up.status500], health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-die', models: ['m-die'], upstreams: [up.dieBefore], health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-slow', models: ['m-slow'], upstreams: [up.slow], timeout_ms: BACKEND_TIMEOUT_MS,
          health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-refuse', models: ['m-refuse'], upstreams: [up.refuse], health: { interval_ms: 100 } }),
        openaiBackend({ name: 'be-sick', models: ['m-sick'], upstreams: [up.unhealthy], health: { interval_ms: 100 } }),
        openaiBackend({ name: 'be-hinted', models: ['m-hinted'], upstreams: [up.hinted], health: { interval_ms: 100 } }),
        openaiBackend({ name: 'be-redirect', models: ['m-redirect'], upstreams: [up.redirecting], health: { interval_ms: 100 } }),
        openaiBackend({ name: 'be-killed', models: ['m-killed'], upstreams: [up.killed], health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-mid', models: ['m-mid'], upstreams: [up.midStream], health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-mid-stall', models: ['m-mid-stall'], upstreams: [up.midStall], timeout_ms: BACKEND_TIMEOUT_MS,
          health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-retry', models: ['m-retry'], health: SLOW_HEALTH,
          urls: [`http://127.0.0.1:${deadPort}`, up.good.url] }),
        openaiBackend({ name: 'be-breaker', models: ['m-breaker'], upstreams: [up.breaker], health: SLOW_HEALTH,
          circuit_breaker: { failures: 2, open_ms: 60000 } }),
        openaiBackend({ name: 'be-recovering', models: ['m-recovering'], urls: [`http://127.0.0.1:${laterPort}`],
          health: { interval_ms: 100 } }),
        openaiBackend({ name: 'be-unanswered', models: ['m-unanswered'], upstreams: [up.dieA, up.goodA], health: SLOW_HEALTH,
          circuit_breaker: { failures: 1000, open_ms: 1000 } }),
        openaiBackend({ name: 'be-unanswered-retry', models: ['m-unanswered-retry'], upstreams: [up.dieB, up.goodB],
          health: SLOW_HEALTH, retry_unanswered: true, circuit_breaker: { failures: 1000, open_ms: 1000 } }),
        openaiBackend({ name: 'be-503', models: ['m-503'], upstreams: [up.status503, up.goodB], health: SLOW_HEALTH,
          circuit_breaker: { failures: 1000, open_ms: 1000 } }),
        openaiBackend({ name: 'be-502', models: ['m-502'], upstreams: [up.status502, up.goodA], health: SLOW_HEALTH,
          circuit_breaker: { failures: 1000, open_ms: 1000 } }),
        openaiBackend({ name: 'be-slow-503', models: ['m-slow-503'], upstreams: [up.slow503A, up.slow503B],
          timeout_ms: BACKEND_TIMEOUT_MS, health: SLOW_HEALTH, circuit_breaker: { failures: 1000, open_ms: 1000 } }),
        openaiBackend({ name: 'be-401', models: ['m-401'], upstreams: [up.status401], health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-400', models: ['m-400'], upstreams: [up.status400], health: SLOW_HEALTH }),
        openaiBackend({ name: 'be-trial', models: ['m-trial'], upstreams: [up.slow500], health: SLOW_HEALTH,
          circuit_breaker: { failures: 1, open_ms: OPEN_MS } }),
        openaiBackend({ name: 'be-half-open', models: ['m-half-open'], urls: [`http://127.0.0.1:${halfOpenPort}`],
          health: SLOW_HEALTH, circuit_breaker: { failures: 2, open_ms: OPEN_MS } }),
        openaiBackend({ name: 'be-connect-timeout', models: ['m-connect-timeout'], upstreams: [up.unaccepting, up.goodC],
          connect_timeout_ms: CONNECT_TIMEOUT_MS, health: SLOW_HEALTH, circuit_breaker: { failures: 1000, open_ms: 1000 } }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await Promise.all(Object.values(up).map((u) => u.stop()));
  });

  it('502 upstream_error when the upstream answers 500', async () => {
    assertError(await gw.chat(KEY, chat('m-500')), { status: 502, code: 'upstream_error' }, 'upstream 500');
    await up.status500.waitForRequests(1);
  });

  it('a backend refusing the gateway (401) is the gateway\'s problem: 502 naming the backend; a 400 is the client\'s and relayed', async () => {
    const refused = await gw.chat(KEY, chat('m-401'));
    assertError(refused, { status: 502, code: 'upstream_error' }, 'upstream 401');
    assert.match(refused.json.error.message, /backend 'be-401' answered 401/);
    const invalid = await gw.chat(KEY, chat('m-400'));
    assert.equal(invalid.status, 400, invalid.text);
    assert.match(invalid.json.error.message, /configured to answer 400/);
  });

  it('502 upstream_error when the upstream closes the connection before answering', async () => {
    assertError(await gw.chat(KEY, chat('m-die')), { status: 502, code: 'upstream_error' }, 'upstream died');
  });

  it('504 upstream_timeout when the upstream does not answer within the backend timeout', async () => {
    const started = Date.now();
    const res = await gw.chat(KEY, chat('m-slow'));
    const elapsed = Date.now() - started;
    assertError(res, { status: 504, code: 'upstream_timeout' }, 'slow upstream');
    assert.ok(elapsed >= BACKEND_TIMEOUT_MS - 50 && elapsed < 4000, `answered after ${elapsed} ms`);
  });

  it('timeout_ms bounds the request, retries included: a retry after a slow 503 gets only what is left of it', async () => {
    const started = Date.now();
    const res = await gw.chat(KEY, chat('m-slow-503'));
    const elapsed = Date.now() - started;
    assertError(res, { status: 504, code: 'upstream_timeout' }, 'two slow 503 answers');
    assert.ok(elapsed >= BACKEND_TIMEOUT_MS - 50 && elapsed < BACKEND_TIMEOUT_MS + 400, `answered after ${elapsed} ms`);
    const tried = up.slow503A.requests().length + up.slow503B.requests().length;
    assert.equal(tried, 2, 'the first replica answered 503, the retry ran out of time on the second');
  });

  it('503 no_backend_available once health checks find the upstream refusing connections', async () => {
    await gw.waitForMetrics((m) => m.matching('sovereign_upstream_healthy', { backend: 'be-refuse' }).length > 0 &&
      m.value('sovereign_upstream_healthy', { backend: 'be-refuse' }) === 0, 10000, 'be-refuse to be marked unhealthy');
    assertError(await gw.chat(KEY, chat('m-refuse')), { status: 503, code: 'no_backend_available' }, 'refusing upstream');
    const line = gw.stderr.split('\n').find((l) => l.includes('"backend_unhealthy"') && l.includes("'be-refuse'"));
    assert.match(line ?? '', /fails its health checks \(2 in a row; last: cannot connect: Connection refused\)/, `the log says why:\n${line}`);
  });

  it('503 no_backend_available when the only replica fails its health checks, and nothing is sent to it', async () => {
    await gw.waitForMetrics((m) => m.matching('sovereign_upstream_healthy', { backend: 'be-sick' }).length > 0 &&
      m.value('sovereign_upstream_healthy', { backend: 'be-sick' }) === 0, 10000, 'be-sick to be marked unhealthy');
    assertError(await gw.chat(KEY, chat('m-sick')), { status: 503, code: 'no_backend_available' }, 'unhealthy upstream');
    const line = gw.stderr.split('\n').find((l) => l.includes('"backend_unhealthy"') && l.includes("'be-sick'"));
    assert.match(line ?? '', /last: answered 503 to GET \/v1\/models\)/, `the log says why:\n${line}`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(up.unhealthy.requests().length, 0, 'no request was forwarded to the unhealthy replica');
  });

  it('a health check answered with a redirect fails: the gateway follows none, so requests could not be served there', async () => {
    await gw.waitForMetrics((m) => m.matching('sovereign_upstream_healthy', { backend: 'be-redirect' }).length > 0 &&
      m.value('sovereign_upstream_healthy', { backend: 'be-redirect' }) === 0, 10000, 'be-redirect to be marked unhealthy');
    assertError(await gw.chat(KEY, chat('m-redirect')), { status: 503, code: 'no_backend_available' }, 'redirecting health path');
    const line = gw.stderr.split('\n').find((l) => l.includes('"backend_unhealthy"') && l.includes("'be-redirect'"));
    assert.match(line ?? '', /last: answered 302 to GET \/v1\/models \(a redirect, which the gateway does not follow/,
      `the log says why:\n${line}`);
    assert.equal(up.redirecting.requests().length, 0, 'no request was forwarded to the replica');
  });

  it('a health check answered 103 Early Hints before its 200 passes: the replica stays healthy and serves', async () => {
    const checks = () => up.hinted.events().filter((e) => e.event === 'request' && e.path === '/v1/models').length;
    await up.hinted.process.waitUntil(() => checks() >= 5, 10000, 'five health checks of be-hinted');
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_upstream_healthy', { backend: 'be-hinted' }), 1);
    assert.ok(!gw.stderr.split('\n').some((l) => l.includes('"backend_unhealthy"') && l.includes("'be-hinted'")), gw.stderr);
    const res = await gw.chat(KEY, chat('m-hinted'));
    assert.equal(res.status, 200, res.text);
  });

  it('502 upstream_error when a healthy upstream has gone away since the last health check', async () => {
    const first = await gw.chat(KEY, chat('m-killed'));
    assert.equal(first.status, 200, first.text);
    up.killed.process.signal('SIGKILL');
    await up.killed.process.exited;
    assertError(await gw.chat(KEY, chat('m-killed')), { status: 502, code: 'upstream_error' }, 'killed upstream');
  });

  // `count` requests for `model`, each answered 200 by the upstream named `fingerprint`.
  async function assertAllServedBy(model, count, fingerprint) {
    for (let i = 0; i < count; i++) {
      const res = await gw.chat(KEY, chat(model));
      assert.equal(res.status, 200, `${model} request ${i}: ${res.text}`);
      assert.equal(res.json.system_fingerprint, fingerprint);
    }
  }

  it('a request whose replica refuses the connection is retried on another replica', async () => {
    await assertAllServedBy('m-retry', 4, 'ugood');
  });

  it('a request whose replica does not complete the connection within connect_timeout_ms is retried on another replica', async () => {
    const started = Date.now();
    await assertAllServedBy('m-connect-timeout', 4, 'ugood-c');
    const metrics = await gw.metrics();
    assert.ok(metrics.value('sovereign_upstream_retries_total', { backend: 'be-connect-timeout' }) >= 1,
      'the unaccepting replica was tried and the request retried');
    assert.ok(Date.now() - started >= CONNECT_TIMEOUT_MS, 'at least one request waited out the connect timeout');
  });

  // A POST a replica received whole may have run: by default it is never sent to a second replica.
  it('a request a replica received but never answered is not run again on another replica (502), by default', async () => {
    const requestsTo = (u) => u.requests().filter((r) => r.method === 'POST').length;
    const answers = [];
    for (let i = 0; i < 20 && !answers.includes(502); i++) answers.push((await gw.chat(KEY, chat('m-unanswered'))).status);
    for (let i = 0; i < 4; i++) answers.push((await gw.chat(KEY, chat('m-unanswered'))).status);
    assert.ok(answers.every((s) => s === 200 || s === 502), JSON.stringify(answers));
    assert.ok(answers.includes(502), `the dying replica was never tried first: ${JSON.stringify(answers)}`);
    await new Promise((r) => setTimeout(r, 300));  // the upstreams report requests on their own output
    assert.equal(requestsTo(up.dieA), answers.filter((s) => s === 502).length, 'each 502 is one request to the dying replica');
    assert.equal(requestsTo(up.goodA), answers.filter((s) => s === 200).length, 'no request reached both replicas');
  });

  it('with retry_unanswered: true it is retried on another replica', async () => {
    await assertAllServedBy('m-unanswered-retry', 6, 'ugood-b');
  });

  it('a 503 answer (the server did not take the request on) is retried on another replica; a 502 answer is not', async () => {
    await assertAllServedBy('m-503', 4, 'ugood-b');
    const statuses = [];
    for (let i = 0; i < 20 && !statuses.includes(502); i++) {
      const res = await gw.chat(KEY, chat('m-502'));
      statuses.push(res.status);
      if (res.status === 502) assertError(res, { status: 502, code: 'upstream_error' }, 'backend answered 502');
    }
    assert.ok(statuses.includes(502), `the 502 replica was never tried first: ${JSON.stringify(statuses)}`);
  });

  it('a stream that dies after it started ends with an SSE error event, then the connection closes', async () => {
    const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${KEY}` }, body: chat('m-mid', { stream: true }) });
    assert.equal(res.status, 200);
    const datas = res.events.map((e) => e.data);
    assert.ok(!datas.includes('[DONE]'), `a broken stream must not claim completion: ${JSON.stringify(datas)}`);
    const last = JSON.parse(datas.at(-1));
    assertShape('error', last, 'last SSE event');
    const content = datas.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
    assert.equal(content, 'Hello from the upstream'.slice(0, content.length), 'the chunks before the failure were passed through');
    assert.ok(content.length > 0, 'chunks sent before the failure arrived');
  });

  // A streamed chat request on a connection of its own, read to its end: whether the gateway closed it shows.
  const streamOnOwnConnection = (model) => {
    const body = JSON.stringify(chat(model, { stream: true }));
    return rawExchange({
      port: gw.apiPort,
      timeoutMs: 5000,
      script: (socket) => socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
    });
  };

  it('a stream that timeout_ms cuts short ends with an upstream_timeout error event, logged as such, and the connection closes', async () => {
    const from = gw.stderr.length;
    const result = await streamOnOwnConnection('m-mid-stall');
    const text = result.raw.toString('utf8');
    assert.match(text, /^HTTP\/1\.1 200 /, text);
    assert.match(text, /"delta":\{"role":"assistant"/, `the stream had started:\n${text}`);
    const error = JSON.parse(text.match(/data: (\{"error":.*\})\r?\n/)[1]);
    assertShape('error', error, 'the error event');
    assert.equal(error.error.code, 'upstream_timeout', text);
    assert.match(error.error.message, /'be-mid-stall' did not answer in time/);
    assert.ok(result.closed, `the connection stayed open after the cut stream:\n${text}`);
    const log = await gw.waitForStderr(/"model":"m-mid-stall"/, from, 5000, 'the access line');
    const access = JSON.parse(log.split('\n').find((l) => l.includes('"model":"m-mid-stall"')));
    assert.equal(access.status, 200);
    assert.equal(access.error, 'upstream_timeout', 'a timeout, not a backend that died');
  });

  it('closes the client connection after the error event of a broken stream', async () => {
    const result = await streamOnOwnConnection('m-mid');
    const text = result.raw.toString('utf8');
    assert.match(text, /data: \{"error":/, text);
    assert.ok(result.closed, `the connection stayed open after the broken stream:\n${text}`);
  });

  it('a replica that comes up after failing its health checks is marked healthy and serves', async () => {
    await gw.waitForMetrics((m) => m.matching('sovereign_upstream_healthy', { backend: 'be-recovering' }).length > 0 &&
      m.value('sovereign_upstream_healthy', { backend: 'be-recovering' }) === 0, 10000, 'be-recovering to be marked unhealthy');
    assertError(await gw.chat(KEY, chat('m-recovering')), { status: 503, code: 'no_backend_available' }, 'while unhealthy');
    up.recovering = await Upstream.start({ name: 'urecovering', port: laterPort });
    await gw.waitForMetrics((m) => m.value('sovereign_upstream_healthy', { backend: 'be-recovering' }) === 1,
      10000, 'be-recovering to be marked healthy again');
    const res = await gw.chat(KEY, chat('m-recovering'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.system_fingerprint, 'urecovering');
  });

  it('after circuit_breaker.failures consecutive failures the circuit opens: 503 without contacting the upstream', async () => {
    for (let i = 0; i < 2; i++) {
      assertError(await gw.chat(KEY, chat('m-breaker')), { status: 502, code: 'upstream_error' }, `failure ${i + 1}`);
    }
    await up.breaker.waitForRequests(2);
    assertError(await gw.chat(KEY, chat('m-breaker')), { status: 503, code: 'no_backend_available' }, 'open circuit');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(up.breaker.requests().length, 2, 'each failure reached the upstream once, the open circuit not at all');
  });

  it('after open_ms exactly one trial request reaches the replica; its failure opens the circuit again', async () => {
    assertError(await gw.chat(KEY, chat('m-trial')), { status: 502, code: 'upstream_error' }, 'the failure that opens it');
    await up.slow500.waitForRequests(1);
    assertError(await gw.chat(KEY, chat('m-trial')), { status: 503, code: 'no_backend_available' }, 'open circuit');
    await new Promise((r) => setTimeout(r, OPEN_MS + 200));
    const answers = await Promise.all([0, 1, 2, 3].map(() => gw.chat(KEY, chat('m-trial'))));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [502, 503, 503, 503], `one trial, the others refused: ${JSON.stringify(statuses)}`);
    assertError(await gw.chat(KEY, chat('m-trial')), { status: 503, code: 'no_backend_available' }, 'open again after the trial failed');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(up.slow500.requests().length, 2, 'the failure that opened it and one trial');
  });

  it('a trial request that succeeds closes the circuit', async () => {
    for (let i = 0; i < 2; i++) {
      assertError(await gw.chat(KEY, chat('m-half-open')), { status: 502, code: 'upstream_error' }, `failure ${i + 1}`);
    }
    assertError(await gw.chat(KEY, chat('m-half-open')), { status: 503, code: 'no_backend_available' }, 'open circuit');
    up.halfOpen = await Upstream.start({ name: 'uhalf-open', port: halfOpenPort });
    await new Promise((r) => setTimeout(r, OPEN_MS + 200));
    for (let i = 0; i < 3; i++) {
      const res = await gw.chat(KEY, chat('m-half-open'));
      assert.equal(res.status, 200, `request ${i} after open_ms: ${res.text}`);
    }
    // The upstream reports a request after answering it: wait for the third report, then make sure no
    // fourth follows.
    await up.halfOpen.waitForRequests(3);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(up.halfOpen.requests().length, 3, 'the trial, then every request once the circuit closed');
  });
});

describe('a backend that answers before it has read the whole request, then closes the connection', () => {
  let early;
  let gw;

  before(async () => {
    early = await Upstream.start({ name: 'uearly', 'answer-before-body': 413 });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'failures', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'be-early', models: ['m-early'], upstreams: [early], health: SLOW_HEALTH })],
      limits: { max_body_bytes: 16 * 1024 * 1024 },
    });
  });

  after(async () => {
    await gw?.stop();
    await early?.stop();
  });

  it('its answer is relayed (413), not a 502 for the write it cut short, whatever the size of the body', async () => {
    // 8 MiB is more than the socket buffers take: the backend's close resets the connection while
    // the gateway still writes the body, after its answer arrived.
    for (const size of [10, 8 * 1024 * 1024]) {
      const res = await gw.chat(KEY, chat('m-early', { messages: [{ role: 'user', content: 'x'.repeat(size) }] }));
      assertError(res, { status: 413 }, `a body of ${size} bytes`);
      assert.match(res.json.error.message, /answered before reading the body/);
    }
    await early.waitForRequests(2);
    assert.ok(early.requests().every((r) => r.answered_before_body), JSON.stringify(early.requests()));
  });
});
