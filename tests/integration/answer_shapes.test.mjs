// Backend answers in another shape than the one the client asked for, and streams that end short of
// `data: [DONE]`. A client that asked for JSON gets JSON or an error, never an event stream it would
// not parse (and a policy would not read); a client that asked for a stream can tell a cut one from
// a whole one. Each case runs through a gateway with a policy (answers scanned and rewritten) and one
// without (streams relayed byte for byte), on chat and on completions where it applies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, bearer, stopAndRemove } from './lib/gateway.mjs';
import { rawExchange, readSse } from './lib/http.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError, assertShape } from './lib/openai_shapes.mjs';
import { evidenceDir, evidenceSections, auditQuery, recordsOf } from './lib/evidence.mjs';
import { sitePolicy } from './lib/policies.mjs';
import { writeAnswer, startScriptedUpstream, chatEvent } from './lib/scripted_answers.mjs';

const KEY = 'sk-answer-shapes';
const REPLY = 'Card 4111 1111 1111 1111 on file.';
const REDACTED = 'Card [REDACTED:credit_card] on file.';

const POLICY = sitePolicy({ name: 'answer-shapes-itest', defaultClearance: 'confidential',
  zoneDescription: 'every upstream of this test', tenants: ['shapes'], redactInAnswers: ['credit_card'] });

// Each upstream behind its own backend and model ("<kind>-model").
const KINDS = {
  sse: { 'answer-as': 'sse' },                  // an event stream whatever was asked
  whole: { 'answer-as': 'whole' },              // a whole JSON answer whatever was asked
  refusing: { status: 400 },                    // an OpenAI error, streamed request or not
  'no-done': { 'omit-done': true },             // chunked streams that end without [DONE]
  'no-done-close': { 'omit-done': true, 'close-delimited': true },  // ... ended by closing the connection
  'close-done': { 'close-delimited': true },    // streams ended by closing the connection, after [DONE]
  good: {},
};

describe('answers in another shape than asked, streams without their end', { timeout: 120000 }, () => {
  const upstreams = {};
  let dir;
  let checked;  // with a policy: answers are scanned
  let plain;    // without: streams are relayed untouched
  const requestIds = { checked: {}, plain: {} };  // what each gateway's audit log must say, by request id

  before(async () => {
    let keys;
    let policyFile;
    ({ dir, keys, policyFile } = await evidenceDir('sovereign-answer-shapes-', { policy: POLICY }));
    for (const [kind, flags] of Object.entries(KINDS)) {
      upstreams[kind] = await Upstream.start({ name: kind, reply: REPLY, ...flags });
    }
    upstreams.scripted = await startScriptedUpstream(dir);  // answers as writeAnswer() last said
    const config = (audit) => ({
      tenants: [tenant({ name: 'shapes', keys: [KEY], models: ['*'] })],
      backends: [...Object.keys(KINDS), 'scripted'].map((kind) =>
        openaiBackend({ name: `${kind}-be`, zone: 'site', models: [`${kind}-model`], upstreams: [upstreams[kind]] })),
      // Relaxed: no outcome gate between the forwarder and the client, which gets the stream as the
      // forwarder relays it (the gate's own handling of a stream's end is audit.test.mjs's).
      ...evidenceSections(keys, path.join(dir, audit), { durability: 'relaxed' }),
    });
    checked = await Gateway.start({ ...config('audit-checked'), policy: policyFile });
    plain = await Gateway.start(config('audit-plain'));
  });

  after(async () => {
    await stopAndRemove(dir, checked, plain, ...Object.values(upstreams));
  });

  const gateways = () => [['checked', checked], ['plain', plain]];
  const chat = (kind, extra = {}) => ({ model: `${kind}-model`, messages: [{ role: 'user', content: 'hello' }], ...extra });
  const completion = (kind, extra = {}) => ({ model: `${kind}-model`, prompt: 'hello', ...extra });

  // The access log line of the request with this id.
  async function accessLine(gw, id, from) {
    const mine = (line) => line.includes('"type":"access"') && line.includes(`"request_id":"${id}"`);
    const text = await gw.waitForStderr({ test: (t) => t.split('\n').some(mine) }, from, 5000, `the access line of ${id}`);
    return JSON.parse(text.split('\n').find(mine));
  }

  it('a request without stream answered with an event stream is 502, nothing of it relayed, the connection closed', async () => {
    for (const [name, gw] of gateways()) {
      const code = name === 'checked' ? 'response_check_failed' : 'upstream_error';
      const metricsBefore = await gw.metrics();
      const from = gw.stderr.length;
      const res = await gw.chat(KEY, chat('sse'));
      assertError(res, { status: 502, code }, `${name}: an event stream for a JSON request`);
      assert.match(res.json.error.message, /backend 'sse-be' answered a request that did not ask for a stream with an event stream \(200, Content-Type: text\/event-stream\) instead of a JSON answer; it was withheld/);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.ok(!res.text.includes('4111') && !res.text.includes('Card'), `${name}: ${res.text}`);
      const id = res.headers['x-request-id'];
      requestIds[name][id] = { status: 502, error: code };
      const access = await accessLine(gw, id, from);
      assert.equal(access.status, 502, JSON.stringify(access));
      assert.equal(access.error, code, JSON.stringify(access));
      const labels = { backend: 'sse-be', status: '502' };
      await gw.waitForMetrics((m) => m.value('sovereign_http_requests_total', labels) ===
        metricsBefore.value('sovereign_http_requests_total', labels) + 1, 5000, `${name}: the 502 counted`);
    }
    // Every answer stopped at its head: its connection, in the middle of its body, carried no other request.
    await upstreams.sse.waitForRequests(2);
    const carried = upstreams.sse.requests().map((r) => r.request_on_connection);
    assert.deepEqual(carried, carried.map(() => 1), 'a connection reused after an answer the gateway did not read');
    // The same backend's streams go on as before.
    for (const [name, gw] of gateways()) {
      const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY), body: chat('sse', { stream: true }) });
      assert.equal(res.status, 200, `${name}: ${JSON.stringify(res)}`);
      assert.equal(res.events.at(-1)?.data, '[DONE]', `${name}: ${JSON.stringify(res.events)}`);
    }
  });

  it('a streamed request answered with a whole answer is 502 with or without a policy; an OpenAI error is relayed as it is', async () => {
    for (const [name, gw] of gateways()) {
      const whole = await gw.chat(KEY, chat('whole', { stream: true }));
      assertError(whole, { status: 502, code: 'upstream_error' }, `${name}: a whole answer to a streamed request`);
      assert.match(whole.json.error.message,
        /'whole-be' answered the streamed request with a whole answer \(200, Content-Type: application\/json\) instead of an event stream/);
      assert.ok(!whole.text.includes('4111') && !whole.text.includes('Card'), `${name}: ${whole.text}`);
      // The same answer, asked without stream, is the answer (checked: the card redacted).
      const asked = await gw.chat(KEY, chat('whole'));
      assert.equal(asked.status, 200, asked.text);
      assert.equal(asked.json.choices[0].message.content, name === 'checked' ? REDACTED : REPLY);
      // A refusal of the request is no answer to check: the client reads it as the error it is.
      for (const [endpoint, body] of [['/v1/chat/completions', chat('refusing', { stream: true })],
        ['/v1/completions', completion('refusing', { stream: true })]]) {
        const refused = await gw.api({ key: KEY, method: 'POST', path: endpoint, body });
        assert.equal(refused.status, 400, `${name} ${endpoint}: ${refused.text}`);
        assert.match(refused.headers['content-type'], /^application\/json/);
        assertShape('error', refused.json, `${name} ${endpoint}`);
        assert.equal(refused.json.error.message, 'upstream: configured to answer 400');
      }
    }
  });

  // A streamed request read to its end on a connection of its own: whether the gateway closed it shows.
  const streamOnOwnConnection = (gw, endpoint, body) => {
    const payload = JSON.stringify(body);
    return rawExchange({
      port: gw.apiPort,
      timeoutMs: 5000,
      script: (socket) => socket.write(`POST ${endpoint} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`),
    });
  };

  // Streams each kind's answer from chat and from completions through both gateways: each answered
  // 200, checked by `check(what, res, name)`, its access log line naming `error` (or none), and its
  // records expected in the audit log as such.
  async function streamEach(kinds, error, check) {
    for (const [name, gw] of gateways()) {
      for (const kind of kinds) {
        for (const [endpoint, body] of [['/v1/chat/completions', chat(kind, { stream: true })],
          ['/v1/completions', completion(kind, { stream: true })]]) {
          const what = `${name}, ${kind}, ${endpoint}`;
          const from = gw.stderr.length;
          const res = await readSse({ port: gw.apiPort, path: endpoint, headers: bearer(KEY), body });
          assert.equal(res.status, 200, `${what}: ${JSON.stringify(res)}`);
          check(what, res, name, kind);
          const id = res.headers['x-request-id'];
          requestIds[name][id] = { status: 200, error };
          const access = await accessLine(gw, id, from);
          assert.equal(access.status, 200, `${what}: ${JSON.stringify(access)}`);
          assert.equal(access.error ?? '', error ?? '', `${what}: ${JSON.stringify(access)}`);
        }
      }
    }
  }

  it('a stream that ends without data: [DONE] ends with an error event, like a backend that died, chat and completions', async () => {
    await streamEach(['no-done', 'no-done-close'], 'upstream_died', (what, res, name, kind) => {
      const datas = res.events.map((e) => e.data);
      assert.ok(!datas.includes('[DONE]'), `${what}: a cut stream must not claim completion: ${JSON.stringify(datas)}`);
      const parsed = datas.map((d) => JSON.parse(d));
      const errors = parsed.filter((e) => e.error);
      assert.equal(errors.length, 1, `${what}: ${JSON.stringify(datas)}`);
      assert.ok(parsed.at(-1).error, `${what}: the error is the last event: ${JSON.stringify(datas)}`);
      assertShape('error', parsed.at(-1), what);
      assert.equal(errors[0].error.code, 'upstream_error', what);
      assert.match(errors[0].error.message, new RegExp(`backend '${kind}-be' ended the stream without data: \\[DONE\\], so the answer may be cut short`));
      // Every event before the end is relayed, scanned where a policy is in force.
      const text = parsed.slice(0, -1).map((e) => e.choices?.[0]?.delta?.content ?? e.choices?.[0]?.text ?? '').join('');
      assert.equal(text, name === 'checked' ? REDACTED : REPLY, what);
    });
    // The client's connection is closed after the error event, as after a backend that died.
    for (const [name, gw] of gateways()) {
      const result = await streamOnOwnConnection(gw, '/v1/chat/completions', chat('no-done', { stream: true }));
      const raw = result.raw.toString('utf8');
      assert.match(raw, /ended the stream without data: \[DONE\]/, raw);
      assert.ok(result.closed, `${name}: the connection stayed open after the cut stream:\n${raw}`);
    }
  });

  it('a stream ended by closing its connection after data: [DONE] is whole, as is a chunked one that ends with it', async () => {
    await streamEach(['close-done', 'good'], undefined, (what, res) => {
      assert.equal(res.events.at(-1)?.data, '[DONE]', `${what}: ${JSON.stringify(res.events)}`);
      assert.ok(!res.events.some((e) => e.data.includes('"error"')), `${what}: ${JSON.stringify(res.events)}`);
    });
  });

  it('a body that ends on data: [DONE] without its line ending is whole; one that ends or dies inside an event is cut short, its error an event of its own', async () => {
    const hello = chatEvent({ role: 'assistant', content: 'hello' });
    for (const [name, gw] of gateways()) {
      for (const end of ['data: [DONE]', 'data: [DONE]\n', 'data: [DONE]\r']) {
        const what = `${name}, ${JSON.stringify(end)}`;
        writeAnswer(dir, [hello, chatEvent({}, 'stop'), end]);
        const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
          body: chat('scripted', { stream: true }) });
        assert.equal(res.status, 200, `${what}: ${JSON.stringify(res)}`);
        assert.deepEqual(res.events.map((e) => e.data).slice(-1), ["[DONE]"], `${what}: ${JSON.stringify(res.events)}`);
        assert.ok(!res.events.some((e) => e.data.includes('"error"')), `${what}: ${JSON.stringify(res.events)}`);
      }
      // Cut inside an event: checked, the unfinished event is dropped; relayed untouched, it went out
      // as it came, and the error event comes after the blank line that ends it, an event of its own.
      // The same where the backend dies there (its connection cut inside the chunked body).
      const partial = '{"choices":[{"index":0,"delta":{"content":" wor';
      for (const [destroy, why] of [[false, /'scripted-be' ended the stream without data: \[DONE\]/], [true, /the backend closed the stream/]]) {
        writeAnswer(dir, [hello, `data: ${partial}`], 'text/event-stream', 0, destroy);
        const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
          body: chat('scripted', { stream: true }) });
        assert.equal(res.status, 200, `${name}: ${JSON.stringify(res)}`);
        const datas = res.events.map((e) => e.data);
        const json = (d) => { try { return JSON.parse(d); } catch { return null; } };
        const before = datas.slice(0, -1);
        assert.deepEqual(before.filter((d) => json(d) === null), name === 'checked' ? [] : [partial], `${name}: ${JSON.stringify(datas)}`);
        assert.equal(before.map(json).filter(Boolean).map((e) => e.choices[0].delta.content ?? '').join(''), 'hello',
          `${name}: ${JSON.stringify(datas)}`);
        const error = JSON.parse(datas.at(-1));
        assertShape('error', error, name);
        assert.match(error.error.message, why, `${name}: ${JSON.stringify(datas)}`);
      }
    }
  });

  it('the audit log records each of these outcomes as the client saw it', async () => {
    for (const [name] of gateways()) {
      const ids = Object.entries(requestIds[name]);
      assert.ok(ids.length > 0, `${name}: no request to look up`);
      // Failures are recorded after their answer: the last may trail it.
      let records = [];
      for (const deadline = Date.now() + 10000; Date.now() < deadline;) {
        records = await auditQuery(path.join(dir, `audit-${name}`));
        if (ids.every(([id]) => recordsOf(records, id).outcome.length > 0)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const [id, expected] of ids) {
        const { outcome } = recordsOf(records, id);
        assert.equal(outcome.length, 1, `${name} ${id}: ${JSON.stringify(outcome)}`);
        assert.equal(outcome[0].status, expected.status, JSON.stringify(outcome[0]));
        assert.equal(outcome[0].error || undefined, expected.error, JSON.stringify(outcome[0]));
      }
    }
  });
});
