// tokens_per_minute: each request is charged its estimated tokens (prompt bytes / 4, plus the
// max_tokens it allows the model) before it is forwarded; a request that would overdraw the
// tenant's minute is refused with 429 and Retry-After, and is never forwarded. Once the answer
// says what it used, the estimate is replaced by that: overestimates come back, the rest is debt.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, bearer, openaiBackend, runCli, tempDir, tenant } from './lib/gateway.mjs';
import { chatEvent, startScriptedUpstream, writeAnswer } from './lib/scripted_answers.mjs';
import { readSse } from './lib/http.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-token-budget-key';
const OTHER_KEY = 'sk-token-budget-other';

describe('tokens per minute', () => {
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'upstream', models: ['m'], 'first-byte-delay-ms': 400 });
    gw = await Gateway.start({
      tenants: [
        tenant({ name: 'budgeted', keys: [KEY], models: ['m'], rate_limit: { tokens_per_minute: 1000 } }),
        tenant({ name: 'other', keys: [OTHER_KEY], models: ['m'], rate_limit: { tokens_per_minute: 1000 } }),
      ],
      backends: [openaiBackend({ name: 'be', models: ['m'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  const ask = (maxTokens) => ({ model: 'm', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hello' }] });

  it('reserves max_tokens while a request is in flight and refuses one that would overdraw the budget', async () => {
    const first = gw.chat(KEY, ask(600));
    await upstream.waitForEvent((e) => e.event === 'request' && e.method === 'POST', 5000, 'the first request to reach the upstream');
    const before = await upstream.settledRequestCount();
    const second = await gw.chat(KEY, ask(600));
    assertError(second, { status: 429, code: 'rate_limit_exceeded' }, 'over the token budget');
    assert.match(JSON.parse(second.text).error.message, /tokens per minute/);
    const retryAfter = Number(second.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${second.headers['retry-after']}`);
    await new Promise((r) => setTimeout(r, 200));  // room for a wrongly forwarded request to show
    assert.equal(upstream.requests().length, before, 'the refused request was forwarded');
    const answered = await first;
    assert.equal(answered.status, 200, answered.text);
  });

  it('keeps budgets per tenant', async () => {
    const res = await gw.chat(OTHER_KEY, ask(600));
    assert.equal(res.status, 200, res.text);
  });

  it('still admits a small request that fits in what is left', async () => {
    const res = await gw.chat(KEY, ask(100));
    assert.equal(res.status, 200, res.text);
  });
});

// Without max_tokens the estimate is the prompt alone; what the answer used is charged afterwards,
// from its usage object, or for a stream without one, one token per chunk that carried text.
describe('tokens per minute settle on what the answers used', () => {
  let reporting;
  let chatty;
  let gw;
  const METERED = 'sk-token-budget-metered';
  const STREAMED = 'sk-token-budget-streamed';

  before(async () => {
    reporting = await Upstream.start({ name: 'reporting', models: ['reported'], 'completion-tokens': 600 });
    chatty = await Upstream.start({ name: 'chatty', models: ['counted'], reply: 'x'.repeat(40), 'chunk-chars': 1 });
    gw = await Gateway.start({
      tenants: [
        tenant({ name: 'metered', keys: [METERED], models: ['reported'], rate_limit: { tokens_per_minute: 1000 } }),
        tenant({ name: 'streamed', keys: [STREAMED], models: ['counted'], rate_limit: { tokens_per_minute: 60 } }),
      ],
      backends: [
        openaiBackend({ name: 'reporting-be', models: ['reported'], upstreams: [reporting] }),
        openaiBackend({ name: 'chatty-be', models: ['counted'], upstreams: [chatty] }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await reporting?.stop();
    await chatty?.stop();
  });

  const hello = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hello' }], ...extra });
  const settled = () => new Promise((r) => setTimeout(r, 100));  // the answer's usage is charged as it completes

  // Each answer uses about 600 (or 40) tokens against 1,000 (or 60) a minute: the first two fit the
  // budget when they are admitted, the third finds it overdrawn.
  async function assertThirdRefused(key, body, consume = (res) => res) {
    for (let i = 0; i < 2; i++) {
      const res = await consume(await gw.chat(key, body));
      assert.equal(res.status, 200, `request ${i + 1}: ${res.text}`);
      await settled();
    }
    const refused = await gw.chat(key, body);
    assertError(refused, { status: 429, code: 'rate_limit_exceeded' }, 'the budget the answers used up');
    assert.match(JSON.parse(refused.text).error.message, /tokens per minute/);
  }

  it('charges the usage a JSON answer reports', async () => {
    await assertThirdRefused(METERED, hello('reported'));
  });

  it('charges one token per streamed text chunk when the stream reports no usage', async () => {
    await assertThirdRefused(STREAMED, hello('counted', { stream: true }));
  });
});

// A stream whose usage event spans several data lines (the SSE specification joins them with LF; some
// servers and proxies write events so) is charged that usage, as a client reads it, not the estimate.
describe('tokens per minute settle on a usage event written over several data lines', () => {
  const SPREAD = 'sk-token-budget-spread';
  let dir;
  let upstream;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-token-budget-lines-');
    upstream = await startScriptedUpstream(dir);
    const usage = '{"id":"c","object":"chat.completion.chunk","choices":[],\ndata: "usage":{"prompt_tokens":5,\n' +
      'data: "completion_tokens":595,"total_tokens":600}}';
    writeAnswer(dir, [chatEvent({ role: 'assistant', content: 'Hi' }), chatEvent({}, 'stop'), `data: ${usage}\n\n`,
      'data: [DONE]\n\n']);
    gw = await Gateway.start({
      tenants: [tenant({ name: 'spread', keys: [SPREAD], models: ['m'], rate_limit: { tokens_per_minute: 1000 } })],
      backends: [openaiBackend({ name: 'scripted', models: ['m'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('charges the 600 tokens the event reports: the second request fits, the third is refused', async () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hello' }], stream: true };
    for (let i = 0; i < 2; i++) {
      const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(SPREAD), body });
      assert.equal(res.status, 200, JSON.stringify(res));
      assert.equal(res.events.at(-1)?.data, '[DONE]', JSON.stringify(res.events));
      assert.equal(JSON.parse(res.events.at(-2).data).usage.total_tokens, 600);
      await new Promise((r) => setTimeout(r, 100));  // the answer's usage is charged as it completes
    }
    const refused = await gw.chat(SPREAD, body);
    assertError(refused, { status: 429, code: 'rate_limit_exceeded' }, 'the budget the answers used up');
  });
});

// The built-in engine counts what it generated even for a request that is cancelled, and a client
// that hangs up mid-answer is charged that: otherwise reading a few events and closing would use the
// engine without limit, every request charged only its prompt's estimate.
describe('tokens per minute on the built-in engine, for clients that hang up mid-answer', () => {
  const LOCAL = 'sk-token-budget-local';
  let dir;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-token-budget-');
    const model = path.join(dir, 'demo.gguf');
    const made = await runCli(['model', 'make-demo', model], { timeoutMs: 60000 });
    assert.equal(made.code, 0, made.output);
    gw = await Gateway.start({
      tenants: [tenant({ name: 'local', keys: [LOCAL], models: ['demo'], rate_limit: { tokens_per_minute: 300 } })],
      backends: [{ name: 'engine', type: 'local', zone: 'site', models: ['demo'], model_file: model, device: 'cpu',
        context_length: 2048, max_batch: 1, threads: 1 }],
    }, { readyTimeoutMs: 60000 });
  });

  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('charges the tokens generated before the client closed, until the budget refuses with 429', async () => {
    // No max_tokens: each request is admitted on its prompt's estimate (a few tokens). With this
    // prompt and seed the demo model does not end its answer early, so every stream is cut off.
    const body = { model: 'demo', messages: [{ role: 'user', content: 'Hello' }], seed: 3, stream: true };
    const EVENTS_READ = 40;
    let refusedAt = 0;
    for (let round = 1; round <= 15 && !refusedAt; round++) {
      let seen = 0;
      const res = await readSse({
        port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${LOCAL}` }, body,
        timeoutMs: 60000, onEvent: (event, req) => { if (++seen === EVENTS_READ) req.destroy(); },
      });
      if (res.status === 429) {
        refusedAt = round;
        break;
      }
      assert.equal(res.status, 200, `round ${round}`);
      assert.ok(seen >= EVENTS_READ, `round ${round}: the stream ended after ${seen} events`);
      await new Promise((r) => setTimeout(r, 300));  // the gateway sees the hang-up at its next write
    }
    // 300 tokens a minute, at least 40 generated per round: refused within 8 rounds, not the first.
    assert.ok(refusedAt > 1 && refusedAt <= 8, `refused at round ${refusedAt} (0: never)`);
    const refused = await gw.chat(LOCAL, { model: 'demo', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 });
    assertError(refused, { status: 429, code: 'rate_limit_exceeded' }, 'the budget the cut-off answers used up');
  });
});
