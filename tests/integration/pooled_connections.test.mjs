// Keep-alive connections to backends carry one tenant's request after another's, so a connection is
// reused only while it is quiet: a backend that writes more than the answer asked for (a second,
// unasked-for answer) must never have those bytes read as the next tenant's answer, whether they
// came with the answer, arrived while the connection waited in the pool, followed a stream, or came
// over TLS. And a request the backend received on a reused connection and never answered is not
// sent again: it may have run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { makePki } from './lib/certs.mjs';
import { readSse } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY_1 = 'sk-pooled-tenant-one';
const KEY_2 = 'sk-pooled-tenant-two';
const QUIET_HEALTH = { interval_ms: 60000, unhealthy_after: 1000 };

// The upstream's answers, chosen by the last user message's first word: each answer repeats the
// message ("answer to: ..."), so a test sees whose answer a client got.
const SCRIPT = `
const answer = (text) => JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] });
const event = (object) => 'data: ' + JSON.stringify(object) + '\\n\\n';
// A whole HTTP response, as a backend that answers twice writes its second answer.
const raw = (json) => 'HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: ' +
  Buffer.byteLength(json) + '\\r\\n\\r\\n' + json;
export default function respond({ body, requestOnConnection }) {
  const said = body.messages.at(-1).content;
  const own = answer('answer to: ' + said);
  const json = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(own) };
  // Its answer, then the same answer again in the same write (beyond its Content-Length).
  if (said.startsWith('twice:')) return { headers: json, chunks: [own + raw(own)] };
  // Its answer, then the same answer again 100 ms later, while the connection is idle.
  if (said.startsWith('late:')) return { headers: json, chunks: [own, raw(own)], chunkDelayMs: 100 };
  // A stream (framed by Content-Length), then a whole second answer.
  if (said.startsWith('stream:')) {
    const sse = event({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm',
      choices: [{ index: 0, delta: { content: 'answer to: ' + said }, finish_reason: null }] }) + 'data: [DONE]\\n\\n';
    return { headers: { 'content-type': 'text/event-stream', 'content-length': Buffer.byteLength(sse) },
      chunks: [sse + raw(own)] };
  }
  // Works on a request that came on a reused connection for 1.5 s, then drops the connection unanswered.
  if (said.startsWith('hold:') && requestOnConnection > 1) return { chunks: [], stallMs: 1500, destroy: true };
  return { headers: json, chunks: [own] };
}
`;

const chat = (model, content) => ({ model, messages: [{ role: 'user', content }] });
const contentOf = (res) => res.json?.choices?.[0]?.message?.content;

describe('pooled backend connections', { timeout: 120000 }, () => {
  let dir;
  let plain;
  let tls;
  let closesIdle;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-pool-itest-');
    const script = path.join(dir, 'answers.mjs');
    fs.writeFileSync(script, SCRIPT);
    const pki = makePki(dir);
    plain = await Upstream.start({ name: 'pool-plain', script });
    tls = await Upstream.start({ name: 'pool-tls', script, 'tls-cert': pki.backend.cert, 'tls-key': pki.backend.key });
    closesIdle = await Upstream.start({ name: 'pool-closes-idle', script, 'keep-alive-timeout-ms': 200 });
    // One backend per case, all on the same upstreams: each has its own replica state, pool and series.
    const plainBackend = (name) => openaiBackend({ name, models: [`m-${name}`], upstreams: [plain], health: QUIET_HEALTH });
    gw = await Gateway.start({
      workers: 1,  // one pool: the second request finds the connection the first one left
      tenants: [tenant({ name: 'ward-one', keys: [KEY_1], models: ['*'] }),
        tenant({ name: 'ward-two', keys: [KEY_2], models: ['*'] })],
      backends: [
        plainBackend('same-write'),
        plainBackend('while-idle'),
        plainBackend('after-stream'),
        plainBackend('held'),
        openaiBackend({ name: 'over-tls', models: ['m-over-tls'], urls: [`https://127.0.0.1:${tls.port}`],
          tls: { ca: pki.ca, server_name: pki.backendName }, health: QUIET_HEALTH }),
        openaiBackend({ name: 'idle-closed', models: ['m-idle-closed'], upstreams: [closesIdle], health: QUIET_HEALTH }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([plain, tls, closesIdle].map((u) => u?.stop()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const dropped = async (backend, reason) =>
    (await gw.metrics()).value('sovereign_upstream_connections_dropped_total', { backend, reason });

  // Tenant one's request makes the backend write a second answer; tenant two's next request must
  // get its own answer, not that one; the connection is counted and logged as dropped.
  async function assertNoShift(backend, firstMessage, { streamFirst = false, pauseMs = 0, when } = {}) {
    const model = `m-${backend}`;
    const stderrBefore = gw.stderr.length;
    if (streamFirst) {
      const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY_1}` },
        body: { ...chat(model, firstMessage), stream: true } });
      assert.equal(res.status, 200);
      assert.equal(res.events.at(-1)?.data, '[DONE]');
      assert.equal(JSON.parse(res.events[0].data).choices[0].delta.content, `answer to: ${firstMessage}`);
    } else {
      const first = await gw.chat(KEY_1, chat(model, firstMessage));
      assert.equal(first.status, 200, first.text);
      assert.equal(contentOf(first), `answer to: ${firstMessage}`);
    }
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    for (const message of ['ward two asks about bed 12', 'ward two asks again']) {
      const res = await gw.chat(KEY_2, chat(model, message));
      assert.equal(res.status, 200, res.text);
      assert.equal(contentOf(res), `answer to: ${message}`, 'tenant two got its own answer, not tenant one\'s');
    }
    assert.equal(await dropped(backend, 'unexpected_bytes'), 1, 'the connection was dropped once, for unexpected bytes');
    const log = await gw.waitForStderr(/upstream_unexpected_bytes/, stderrBefore, 5000, 'the unexpected bytes logged');
    const line = JSON.parse(log.split('\n').find((l) => l.includes('upstream_unexpected_bytes')));
    assert.equal(line.level, 'warn');
    assert.match(line.message, new RegExp(`backend '${backend}' replica \\S+ sent bytes no request asked for ${when}`));
    assert.ok(!line.message.includes('answer to'), 'the log names no content');
  }

  it('a second answer written with the first is never read as the next tenant\'s answer', async () => {
    await assertNoShift('same-write', 'twice: patient 4711, diagnosis C50.9', { when: 'after the end of an answer' });
  });

  it('a second answer arriving while the connection waits in the pool is found before the connection is reused', async () => {
    await assertNoShift('while-idle', 'late: patient 4712, diagnosis J45', { pauseMs: 400,
      when: 'while its connection was idle' });
  });

  it('bytes after the end of a streamed answer keep its connection out of the pool', async () => {
    await assertNoShift('after-stream', 'stream: patient 4713, diagnosis E11', { streamFirst: true,
      when: 'after the end of an answer' });
  });

  it('over TLS the bytes the TLS layer already holds are found too', async () => {
    await assertNoShift('over-tls', 'twice: patient 4714, diagnosis I10', { when: 'after the end of an answer' });
  });

  it('a connection the backend closed while idle is found before a request is sent on it, and the request is sent once', async () => {
    const model = 'm-idle-closed';
    assert.equal((await gw.chat(KEY_1, chat(model, 'first'))).status, 200);
    // The upstream closes connections idle for 200 ms (Node adds a second to a keep-alive timeout).
    await new Promise((r) => setTimeout(r, 2000));
    const res = await gw.chat(KEY_2, chat(model, 'after the idle close'));
    assert.equal(res.status, 200, res.text);
    assert.equal(contentOf(res), 'answer to: after the idle close');
    await closesIdle.waitForRequests(2);
    const posts = closesIdle.requests().filter((r) => r.method === 'POST');
    assert.equal(posts.length, 2, `each request reached the upstream once: ${JSON.stringify(posts.map((p) => p.body))}`);
    assert.equal(posts[1].request_on_connection, 1, 'the second request went on a new connection');
    assert.equal(await dropped('idle-closed', 'closed_by_backend'), 1);
    assert.equal(await dropped('idle-closed', 'unexpected_bytes'), 0);
  });

  it('a request a backend received on a reused connection and dropped unanswered is not sent again (502)', async () => {
    const model = 'm-held';
    assert.equal((await gw.chat(KEY_1, chat(model, 'good morning'))).status, 200);  // leaves a pooled connection
    const transfer = 'hold: transfer 500 EUR to account 42';
    const started = Date.now();
    const res = await gw.chat(KEY_1, chat(model, transfer));
    assertError(res, { status: 502, code: 'upstream_error' }, 'the held request');
    assert.match(res.json.error.message, /closed the connection after receiving the request, without answering/);
    assert.ok(Date.now() - started >= 1400, 'answered once the backend dropped the connection');
    await new Promise((r) => setTimeout(r, 300));  // a resend would be reported by now
    const received = plain.requests().filter((r) => r.method === 'POST' && r.body.includes(transfer));
    assert.equal(received.length, 1, `the backend received the transfer ${received.length} times`);
    assert.equal(received[0].request_on_connection, 2, 'it came on the reused connection');
  });
});
