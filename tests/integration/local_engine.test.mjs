// A `type: local` backend seen from the gateway: the built-in engine serving the demo model from
// `sovereign model make-demo` (random weights, so its text is gibberish: the tests look at shapes,
// counts and behaviour, never at words). Model lists per tenant, usage cut at max_tokens, one SSE
// chunk per generated token, a client hang-up stopping generation, a full queue answered 503 with
// Retry-After, the engine's gauges in /metrics (promtool), and `config check` on bad model files.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Gateway, gatewayBin, runCli, tempDir, tenant, sha256Hex, underProcessLimit } from './lib/gateway.mjs';
import { readSse } from './lib/http.mjs';
import { ggufLayout } from './lib/gguf_file.mjs';
import { assertError, assertShape } from './lib/openai_shapes.mjs';

const KEY = 'sk-local-engine-main';
const OTHER_KEY = 'sk-local-engine-other';
const BACKEND = 'site-engine';
// The engine keeps this many requests waiting for a batch slot before it refuses more (the
// backend's max_queue).
const ENGINE_MAX_QUEUE = 8;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The demo model is deterministic (fixed weights) and so is sampling with a seed. With this prompt
// and seed the model samples no end-of-text token within 2000 tokens, so a long generation really
// runs to max_tokens (asserted where it matters, so a changed demo model shows up as such).
const LONG = { messages: [{ role: 'user', content: 'Hello' }], seed: 3 };
const longBody = (extra = {}) => ({ model: 'demo', ...LONG, max_tokens: 2000, ...extra });

function makeDemoModel(dir) {
  const file = path.join(dir, 'demo.gguf');
  return runCli(['model', 'make-demo', file], { timeoutMs: 60000 }).then((made) => {
    assert.equal(made.code, 0, `model make-demo:\n${made.output}`);
    return file;
  });
}

// A copy of an f32 demo model with `value` written over the named tensors' elements (all, or the first n).
function brokenModel(source, target, value, tensorNames, n = Infinity) {
  const bytes = fs.readFileSync(source);
  const { tensors } = ggufLayout(bytes);
  for (const name of tensorNames) {
    const t = tensors[name];
    assert.ok(t, `the demo model has ${name}`);
    assert.equal(t.type, 0, `${name} is f32`);
    const count = Math.min(n, t.dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < count; ++i) bytes.writeFloatLE(value, t.at + 4 * i);
  }
  fs.writeFileSync(target, bytes);
  return target;
}

// CPU time (user + system, ms) the process has used so far; null where /proc is not available.
function cpuMs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;  // utime, stime in clock ticks (100 Hz)
  } catch {
    return null;
  }
}

const parseEvents = (res) => res.events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
const contentOf = (chunk) => chunk.choices?.[0]?.delta?.content;

describe('a local backend behind the gateway', { timeout: 120000 }, () => {
  let dir;
  let modelFile;
  let gw;

  const stream = (body, options = {}) => readSse({
    port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` },
    body: { ...body, stream: true }, timeoutMs: 60000, ...options,
  });

  before(async () => {
    dir = tempDir('sovereign-local-engine-');
    modelFile = await makeDemoModel(dir);
    gw = await Gateway.start({
      tenants: [
        tenant({ name: 'main', keys: [KEY], models: ['demo'] }),
        tenant({ name: 'other', keys: [OTHER_KEY], models: ['demo-other'] }),
      ],
      backends: [{
        name: BACKEND, type: 'local', zone: 'site', models: ['demo', 'demo-other'], model_file: modelFile,
        device: 'cpu', context_length: 2048, max_batch: 1, max_queue: ENGINE_MAX_QUEUE,
      }],
    }, { readyTimeoutMs: 60000 });
  });

  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('/v1/models lists the local model to the tenants allowed to use it, and only to them', async () => {
    const main = await gw.api({ key: KEY, path: '/v1/models' });
    assert.equal(main.status, 200, main.text);
    assertShape('modelList', main.json, '/v1/models');
    assert.deepEqual(main.json.data.map((m) => m.id), ['demo']);
    const other = await gw.api({ key: OTHER_KEY, path: '/v1/models' });
    assert.equal(other.status, 200, other.text);
    assert.deepEqual(other.json.data.map((m) => m.id), ['demo-other']);
    assertError(await gw.chat(OTHER_KEY, { model: 'demo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
      { status: 403, code: 'model_not_permitted' }, 'a tenant without demo');
  });

  it('a chat completion is cut at max_tokens: finish_reason length, usage.completion_tokens = max_tokens', async () => {
    const res = await gw.chat(KEY, { model: 'demo', messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 5, seed: 11 });
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.match(String(res.headers['x-request-id']), /^req_/);
    const c = res.json;
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, 'demo');
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].message.role, 'assistant');
    assert.equal(typeof c.choices[0].message.content, 'string');
    assert.ok(c.choices[0].message.content.length > 0, res.text);
    // The demo model could sample its end-of-text token early; with this seed it does not, and
    // only a cut at max_tokens says that completion_tokens must equal it.
    assert.equal(c.choices[0].finish_reason, 'length', res.text);
    assert.equal(c.usage.completion_tokens, 5, res.text);
    assert.ok(c.usage.prompt_tokens > 0, res.text);
    assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);

    // The other model name of the same backend is served by the same engine, for its tenant.
    const other = await gw.chat(OTHER_KEY, { model: 'demo-other', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, seed: 11 });
    assert.equal(other.status, 200, other.text);
    assert.equal(other.json.model, 'demo-other');
    assert.equal(other.json.usage.completion_tokens, 3, other.text);
  });

  it('without max_tokens the answer runs to the end of the context, not to a hidden default of 256', async () => {
    // LONG's seed samples no end-of-text token in 2000 tokens, so only the context (2048) ends it.
    const res = await gw.chat(KEY, { model: 'demo', ...LONG }, { timeoutMs: 60000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices[0].finish_reason, 'length', res.text.slice(0, 400));
    assert.equal(res.json.usage.prompt_tokens + res.json.usage.completion_tokens, 2048, JSON.stringify(res.json.usage));
  });

  it('max_tokens 0, both max_tokens and max_completion_tokens, n above 1 and log probabilities are refused with 400 naming the parameter', async () => {
    const base = { model: 'demo', messages: [{ role: 'user', content: 'Hi' }] };
    for (const [extra, param] of [[{ max_tokens: 0 }, 'max_tokens'], [{ max_completion_tokens: 0 }, 'max_completion_tokens'],
      [{ n: 2 }, 'n'], [{ logprobs: true }, 'logprobs'], [{ top_logprobs: 2 }, 'top_logprobs'],
      // Beside max_tokens 1: two limits, refused as OpenAI refuses them rather than one ignored.
      [{ max_completion_tokens: 5 }, 'max_tokens']]) {
      const res = await gw.chat(KEY, { ...base, max_tokens: 1, ...extra });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(extra));
      assert.equal(res.json.error.param, param, res.text);
    }
    const completion = await gw.api({ key: KEY, method: 'POST', path: '/v1/completions',
      body: { model: 'demo', prompt: 'Hi', max_tokens: 1, logprobs: 0 } });
    assertError(completion, { status: 400, code: 'invalid_request' }, 'completions with logprobs');
    assert.equal(completion.json.error.param, 'logprobs', completion.text);
  });

  it('a prompt beyond the context is 400 context_length_exceeded naming messages or prompt; the engine serves on', async () => {
    const long = 'Zq'.repeat(3000);  // more tokens than the backend's context of 2048
    const chat = await gw.chat(KEY, { model: 'demo', messages: [{ role: 'user', content: long }], max_tokens: 5 });
    assertError(chat, { status: 400, code: 'context_length_exceeded' }, 'chat beyond the context');
    assert.equal(chat.json.error.param, 'messages', chat.text);
    assert.match(chat.json.error.message, /the prompt is \d+ tokens; the model's context holds 2048 including the reply; shorten 'messages'/);
    const streamed = await stream({ model: 'demo', messages: [{ role: 'user', content: long }], max_tokens: 5 });
    assert.equal(streamed.status, 400, 'a streamed request is refused before its stream opens');
    const completion = await gw.api({ key: KEY, method: 'POST', path: '/v1/completions',
      body: { model: 'demo', prompt: long, max_tokens: 5 } });
    assertError(completion, { status: 400, code: 'context_length_exceeded' }, 'completion beyond the context');
    assert.equal(completion.json.error.param, 'prompt', completion.text);
    const after = await gw.chat(KEY, { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, seed: 1 });
    assert.equal(after.status, 200, after.text);
  });

  it('parameters and content the engine cannot honour are refused by name, not ignored', async () => {
    const base = { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 };
    for (const [extra, param] of [
      [{ response_format: { type: 'json_object' } }, 'response_format'],
      [{ tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }] }, 'tools'],
      [{ logit_bias: { 5: 100 } }, 'logit_bias'], [{ presence_penalty: 1 }, 'presence_penalty'],
      [{ frequency_penalty: 1 }, 'frequency_penalty'], [{ seed: 1.5 }, 'seed'], [{ top_k: 2.5 }, 'top_k'],
      [{ stop: ['a', 7] }, 'stop[1]'], [{ messages: [{ role: 'bogus', content: 'Hi' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }] }, 'messages[0].content[1]'],
      // Unknown to the engine: a typo, and other servers' parameters, would otherwise be dropped unseen.
      [{ temprature: 0 }, 'temprature'], [{ guided_json: { type: 'object' } }, 'guided_json'],
      [{ min_tokens: 5 }, 'min_tokens'], [{ min_p: 0.2 }, 'min_p'],
    ]) {
      const res = await gw.chat(KEY, { ...base, ...extra });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(extra));
      assert.equal(res.json.error.param, param, res.text);
    }
    const range = await gw.chat(KEY, { ...base, temperature: 3 });
    assert.equal(range.json.error.message, "'temperature' must be between 0 and 2, not 3", range.text);
    for (const [extra, param] of [[{ echo: true }, 'echo'], [{ suffix: '}' }, 'suffix'], [{ best_of: 2 }, 'best_of']]) {
      const res = await gw.api({ key: KEY, method: 'POST', path: '/v1/completions',
        body: { model: 'demo', prompt: 'Hi', max_tokens: 1, ...extra } });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(extra));
      assert.equal(res.json.error.param, param, res.text);
    }
    // The values that ask for nothing, which many clients always send, are served.
    const defaults = await gw.chat(KEY, { ...base, response_format: { type: 'text' }, tools: [], presence_penalty: 0,
      frequency_penalty: 0, logit_bias: {} });
    assert.equal(defaults.status, 200, defaults.text);
  });

  it('tool calls and results, messages without content and unsupported fields are refused by name, not dropped', async () => {
    const base = { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 };
    const call = { id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{}' } };
    for (const [extra, param] of [
      [{ tool_choice: 'required' }, 'tool_choice'],
      [{ tool_choice: { type: 'function', function: { name: 'lookup' } } }, 'tool_choice'],
      [{ prediction: { type: 'content', content: 'Hello' } }, 'prediction'],
      [{ reasoning_effort: 'low' }, 'reasoning_effort'],
      [{ messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' }] }, 'messages[1].tool_calls'],
      [{ messages: [{ role: 'user', content: 'Weather?' }, { role: 'tool', tool_call_id: 'c1', content: 'sunny' }] },
        'messages[1].role'],
      [{ messages: [{ role: 'user' }] }, 'messages[0].content'],
      [{ messages: [{ role: 'user', content: [] }] }, 'messages[0].content'],
      [{ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: null }] }, 'messages[1].content'],
      [{ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant' }] }, 'messages[1].content'],
    ]) {
      const res = await gw.chat(KEY, { ...base, ...extra });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(extra));
      assert.equal(res.json.error.param, param, res.text);
    }
    // "none" and "auto" ask for no tool call: served.
    for (const tool_choice of ['none', 'auto']) {
      const res = await gw.chat(KEY, { ...base, tool_choice });
      assert.equal(res.status, 200, res.text);
    }
  });

  it('a message\'s name, and members of a message the engine does not know, are refused by name, not dropped', async () => {
    const base = { model: 'demo', max_tokens: 1 };
    for (const [messages, param] of [
      [[{ role: 'user', content: 'Hi', name: 'alice' }], 'messages[0].name'],
      [[{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi', name: 'bob' }], 'messages[1].name'],
      [[{ role: 'user', content: 'Hi' }, { role: 'assistant', content: '', refusal: 'No.' }, { role: 'user', content: 'Why?' }],
        'messages[1].refusal'],
      [[{ role: 'user', content: 'Hi', nmae: 'alice' }], 'messages[0].nmae'],
    ]) {
      const res = await gw.chat(KEY, { ...base, messages });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(messages));
      assert.equal(res.json.error.param, param, res.text);
    }
    const named = await gw.chat(KEY, { ...base, messages: [{ role: 'user', content: 'Hi', name: 'alice' }] });
    assert.match(named.json.error.message, /no place for a name: leave out 'messages\[0\]\.name'; write the name into the content/, named.text);
    // An answer copied back into the history by an SDK carries its empty members as null: served.
    const copied = await gw.chat(KEY, { ...base, messages: [{ role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello', refusal: null, audio: null, annotations: [], tool_calls: null, name: null },
      { role: 'user', content: 'Again' }] });
    assert.equal(copied.status, 200, copied.text);
  });

  it('a top_p too small for the engine\'s 32-bit floats is refused naming top_p, not passed on as 0', async () => {
    const base = { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 };
    for (const top_p of [0, 1e-46]) {
      const res = await gw.chat(KEY, { ...base, top_p });
      assertError(res, { status: 400, code: 'invalid_request' }, `top_p ${top_p}`);
      assert.equal(res.json.error.param, 'top_p', res.text);
      assert.match(res.json.error.message, /'top_p' must be greater than 0/, res.text);
    }
    // The smallest positive 32-bit float is a top_p the engine takes (greedy in effect).
    const tiny = await gw.chat(KEY, { ...base, top_p: 1.5e-45 });
    assert.equal(tiny.status, 200, tiny.text);
  });

  it('integer parameters are JSON integers: 1.0 is refused for each, naming it; seeds beyond 64-bit signed too', async () => {
    const raw = (path, text) => gw.api({ key: KEY, method: 'POST', path, body: text, headers: { 'content-type': 'application/json' } });
    for (const key of ['n', 'best_of', 'top_k', 'seed', 'max_tokens']) {
      // Written as text: JSON.stringify would write 1.0 as 1.
      const res = await raw('/v1/completions', `{"model":"demo","prompt":"Hi","${key}":1.0}`);
      assertError(res, { status: 400, code: 'invalid_request' }, `${key}: 1.0`);
      assert.equal(res.json.error.param, key, res.text);
      const ok = await raw('/v1/completions', `{"model":"demo","prompt":"Hi","max_tokens":1,"${key}":1}`);
      assert.equal(ok.status, 200, ok.text);
    }
    const big = await raw('/v1/chat/completions',
      '{"model":"demo","messages":[{"role":"user","content":"Hi"}],"max_tokens":1,"seed":18446744073709551615}');
    assertError(big, { status: 400, code: 'invalid_request' }, 'seed beyond int64');
    assert.equal(big.json.error.param, 'seed', big.text);
    assert.match(big.json.error.message, /-9223372036854775808 to 9223372036854775807/, big.text);
  });

  it('a negative seed is a seed, as in OpenAI: the same answer twice', async () => {
    const body = { model: 'demo', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 12, seed: -7, temperature: 1 };
    const first = await gw.chat(KEY, body);
    const second = await gw.chat(KEY, body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.choices[0].message.content, second.json.choices[0].message.content);
  });

  it('completions carry cmpl- ids, streamed or not', async () => {
    const body = { model: 'demo', prompt: 'Once upon a time', max_tokens: 3, seed: 2 };
    const whole = await gw.api({ key: KEY, method: 'POST', path: '/v1/completions', body });
    assert.equal(whole.status, 200, whole.text);
    assert.match(whole.json.id, /^cmpl-/, whole.text);
    const streamed = await readSse({ port: gw.apiPort, path: '/v1/completions', headers: { authorization: `Bearer ${KEY}` },
      body: { ...body, stream: true }, timeoutMs: 60000 });
    assert.equal(streamed.status, 200);
    const chunks = parseEvents(streamed);
    assert.ok(chunks.length > 0);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'text_completion', JSON.stringify(chunk));
      assert.match(chunk.id, /^cmpl-/, JSON.stringify(chunk));
    }
    // As OpenAI's completions stream: no chunk before the first text (it has no role chunk); only the
    // last, which carries the finish reason, may be without text.
    const textless = chunks.slice(0, -1).filter((c) => c.choices[0].text === '' && c.choices[0].finish_reason == null);
    assert.deepEqual(textless, [], JSON.stringify(chunks));
    assert.ok(chunks.at(-1).choices[0].finish_reason, JSON.stringify(chunks.at(-1)));
  });

  it('streams one content chunk per generated token, the finish reason, the usage when asked for, then [DONE]', async () => {
    const body = { model: 'demo', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8, seed: 2,
      stream_options: { include_usage: true } };
    const res = await stream(body);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    assert.equal(res.brokenBy, null);
    assert.equal(res.events.at(-1).data, '[DONE]', 'the stream ends with [DONE]');
    assert.equal(res.events.filter((e) => e.data === '[DONE]').length, 1);
    assert.equal(res.rest.trim(), '', 'nothing after [DONE]');
    const all = parseEvents(res);
    for (const chunk of all) {
      assert.equal(chunk.object, 'chat.completion.chunk', JSON.stringify(chunk));
      assert.equal(chunk.model, 'demo');
      assert.equal(chunk.id, all[0].id, 'one id for the whole stream');
    }
    // As OpenAI streams it: the usage, asked for with stream_options.include_usage, comes in a chunk
    // of its own with no choices, after the one with the finish reason.
    const usageChunk = all.at(-1);
    assert.deepEqual(usageChunk.choices, [], JSON.stringify(usageChunk));
    assert.equal(usageChunk.usage.completion_tokens, 8, JSON.stringify(usageChunk));
    assert.ok(usageChunk.usage.prompt_tokens > 0);
    assert.equal(usageChunk.usage.total_tokens, usageChunk.usage.prompt_tokens + 8);
    const chunks = all.slice(0, -1);
    for (const chunk of chunks) assert.equal(chunk.choices.length, 1);
    // First: the role; last: the finish reason; in between: the tokens.
    // The deltas as OpenAI's: the role with an empty content, then only content, then nothing ({})
    // beside the finish reason.
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'length', JSON.stringify(last));
    assert.deepEqual(last.choices[0].delta, {}, JSON.stringify(last));
    assert.equal(last.usage, undefined, JSON.stringify(last));
    const middle = chunks.slice(1, -1);
    for (const chunk of middle) {
      assert.equal(chunk.choices[0].finish_reason, null, JSON.stringify(chunk));
      assert.ok(contentOf(chunk).length > 0, `an empty content chunk: ${JSON.stringify(chunk)}`);
      assert.equal(chunk.usage, undefined, 'usage only in its own chunk');
      assert.deepEqual(Object.keys(chunk.choices[0].delta), ['content'], JSON.stringify(chunk));
    }
    // With this seed every one of the 8 tokens decodes to whole characters, so each is its own chunk.
    assert.equal(middle.length, 8, `one chunk per token: ${JSON.stringify(middle.map(contentOf))}`);

    // Whatever the seed: the stream says what the same request unstreamed says, and a chunk never
    // carries less than one token (a token that ends inside a UTF-8 character waits for the next).
    for (const seed of [1, 3, 4]) {
      const s = parseEvents(await stream({ ...body, seed }));
      const r = await gw.chat(KEY, { ...body, seed, stream_options: undefined });
      assert.equal(r.status, 200, r.text);
      const parts = s.slice(1, -2).map(contentOf);
      assert.equal(parts.join(''), r.json.choices[0].message.content, `seed ${seed}: streamed and unstreamed text differ`);
      assert.deepEqual(s.at(-1).usage, r.json.usage, `seed ${seed}`);
      assert.ok(parts.length <= r.json.usage.completion_tokens && parts.length >= r.json.usage.completion_tokens - 2,
        `seed ${seed}: ${parts.length} content chunks for ${r.json.usage.completion_tokens} tokens`);
    }
    // Not asked for: no chunk carries usage.
    const plain = parseEvents(await stream({ ...body, stream_options: undefined }));
    assert.ok(plain.every((chunk) => chunk.usage === undefined && chunk.choices.length === 1), JSON.stringify(plain.at(-1)));
  });

  it('a client that hangs up mid-stream stops the generation; the engine is idle again and serves the next request', async (t) => {
    const pid = gw.process.pid;
    // A baseline: the same generation run to its end (2000 tokens), and the CPU time it takes.
    const cpuBefore = cpuMs(pid);
    const full = await gw.chat(KEY, longBody(), { timeoutMs: 60000 });
    const fullCpu = cpuBefore === null ? null : cpuMs(pid) - cpuBefore;
    assert.equal(full.status, 200, full.text);
    assert.equal(full.json.choices[0].finish_reason, 'length', 'the demo model now stops early on this seed: pick another');
    assert.equal(full.json.usage.completion_tokens, 2000);

    const cpuStart = cpuMs(pid);
    let contentChunks = 0;
    let destroyedAt;
    const res = await stream(longBody(), {
      onEvent: (event, req) => {
        if (event.data !== '[DONE]' && contentOf(JSON.parse(event.data))) contentChunks += 1;
        if (contentChunks === 3 && destroyedAt === undefined) {
          destroyedAt = Date.now();
          req.destroy();
        }
      },
    });
    assert.equal(res.status, 200);
    assert.ok(destroyedAt, `the stream ended before 3 content chunks: ${JSON.stringify(res.events)}`);
    const requestId = res.headers['x-request-id'];

    // The engine retires the cancelled sequence: nothing running, nothing waiting.
    const idle = await gw.waitForMetrics((m) => m.value('sovereign_engine_batch_size', { backend: BACKEND }) === 0 &&
      m.value('sovereign_engine_queue_depth', { backend: BACKEND }) === 0 &&
      m.value('sovereign_engine_kv_cache_used_ratio', { backend: BACKEND }) === 0, 3000, 'the engine to be idle');
    const idleAfterMs = Date.now() - destroyedAt;
    assert.ok(idle);
    if (fullCpu === null) {
      t.diagnostic('no /proc/PID/stat here: the CPU-time checks are skipped');
    } else if (fullCpu < 100) {
      t.diagnostic(`the full generation took only ${fullCpu} ms of CPU: too little to compare with`);
    } else {
      // Generation stopped long before 2000 tokens: the cancelled request cost a small part of
      // the CPU time the full generation took, and the engine uses none once idle.
      const cancelledCpu = cpuMs(pid) - cpuStart;
      assert.ok(cancelledCpu < fullCpu / 4,
        `the cancelled request used ${cancelledCpu} ms of CPU, the full generation ${fullCpu} ms (idle after ${idleAfterMs} ms)`);
      const idleStart = cpuMs(pid);
      await sleep(500);
      assert.ok(cpuMs(pid) - idleStart <= 60, `the gateway kept computing after the hang-up: ${cpuMs(pid) - idleStart} ms of CPU in 500 ms`);
    }

    // The access log records the hang-up as 499 client_closed.
    const line = await gw.process.waitUntil(() => gw.stderr.split('\n').find((l) => l.includes(`"request_id":"${requestId}"`)),
      5000, 'the access log line of the cancelled stream');
    const entry = JSON.parse(line);
    assert.equal(entry.status, 499, line);
    assert.equal(entry.error, 'client_closed', line);
    assert.equal(entry.stream, true, line);
    assert.equal(entry.backend, BACKEND, line);

    // max_batch is 1: a sequence still decoding would hold this one back until it ended.
    const next = await gw.chat(KEY, { model: 'demo', messages: [{ role: 'user', content: 'Hello again' }], max_tokens: 4, seed: 5 });
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.usage.completion_tokens, 4, next.text);
  });

  it('requests beyond max_batch wait their turn; beyond the engine queue they get 503 with Retry-After', async () => {
    // One long generation holds the only batch slot ...
    let running;
    const started = new Promise((resolve) => { running = resolve; });
    const blocker = stream(longBody(), {
      onEvent: (event) => {
        if (event.data !== '[DONE]' && contentOf(JSON.parse(event.data))) running();
      },
    });
    await started;
    // ... while more requests arrive than the queue holds.
    const extra = ENGINE_MAX_QUEUE + 12;
    const answers = await Promise.all(Array.from({ length: extra }, (_, i) =>
      gw.chat(KEY, { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1, seed: i }, { timeoutMs: 60000 })));
    const held = parseEvents(await blocker);
    assert.equal(held.at(-1).choices[0].finish_reason, 'length', 'the blocking generation ran to its end');
    assert.ok(held.slice(1, -1).map(contentOf).join('').length > 0, 'the blocking generation wrote text');

    const ok = answers.filter((r) => r.status === 200);
    const busy = answers.filter((r) => r.status === 503);
    assert.equal(ok.length + busy.length, extra,
      `unexpected statuses: ${JSON.stringify(answers.filter((r) => r.status !== 200 && r.status !== 503).map((r) => r.text))}`);
    // Every request that found room in the queue was served after the blocker, in full.
    assert.ok(ok.length >= ENGINE_MAX_QUEUE - 1 && ok.length <= ENGINE_MAX_QUEUE,
      `${ok.length} of ${extra} served, ${busy.length} refused`);
    for (const r of ok) assert.equal(r.json.usage.completion_tokens, 1, r.text);
    assert.ok(busy.length >= 1, 'no request was refused with the queue full');
    for (const r of busy) {
      assertError(r, { status: 503, type: 'service_unavailable_error', code: 'no_backend_available' }, 'engine queue full');
      assert.match(r.json.error.message, /engine busy/, r.text);
      assert.match(String(r.headers['retry-after']), /^[1-9][0-9]*$/, `Retry-After: ${r.headers['retry-after']}`);
    }
    await gw.waitForMetrics((m) => m.value('sovereign_engine_queue_depth', { backend: BACKEND }) === 0 &&
      m.value('sovereign_engine_batch_size', { backend: BACKEND }) === 0, 5000, 'the queue to drain');
  });

  it('a queued request whose client leaves stops counting in the queue depth at once; the one left is served', async () => {
    const labels = { backend: BACKEND };
    // One long generation in the only slot ...
    let running;
    const started = new Promise((resolve) => { running = resolve; });
    let blockerEnded = false;
    const blocker = stream(longBody(), {
      onEvent: (event, req) => {
        if (event.data !== '[DONE]' && contentOf(JSON.parse(event.data))) running(req);
      },
    }).finally(() => { blockerEnded = true; });
    const blockerReq = await started;
    // ... one request waiting behind it that stays, and one behind that whose client leaves. Both
    // are streams: each gets its first event (the assistant role) while it waits.
    const staying = stream({ model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, seed: 1 });
    await gw.waitForMetrics((m) => m.value('sovereign_engine_queue_depth', labels) === 1, 5000, 'one request waiting');
    let queued;
    const leaverQueued = new Promise((resolve) => { queued = resolve; });
    const leaving = stream({ model: 'demo', messages: [{ role: 'user', content: 'Bye' }], max_tokens: 2, seed: 2 }, {
      onEvent: (event, req) => queued(req),
    });
    await gw.waitForMetrics((m) => m.value('sovereign_engine_queue_depth', labels) === 2, 5000, 'two requests waiting');
    const leaverReq = await leaverQueued;
    leaverReq.destroy();
    const left = await leaving;
    const requestId = left.headers['x-request-id'];

    // The gateway sees the hang-up at its next sweep; the engine stops counting that request then,
    // while the long generation still holds the slot (nothing ahead of it was served meanwhile).
    const after = await gw.waitForMetrics((m) => m.value('sovereign_engine_queue_depth', labels) === 1, 5000,
      'the queue depth to count only the live waiter');
    assert.equal(after.value('sovereign_engine_batch_size', labels), 1, after.text);
    assert.equal(blockerEnded, false, 'the long generation ended before the queue depth fell: the test proves nothing');
    const line = await gw.process.waitUntil(() => gw.stderr.split('\n').find((l) => l.includes(`"request_id":"${requestId}"`)),
      5000, 'the access log line of the request whose client left');
    assert.equal(JSON.parse(line).status, 499, line);

    blockerReq.destroy();
    await blocker;
    const served = await staying;
    assert.equal(served.status, 200);
    const events = parseEvents(served);
    assert.ok(['stop', 'length'].includes(events.at(-1).choices[0].finish_reason), JSON.stringify(served.events));
    await gw.waitForMetrics((m) => m.value('sovereign_engine_queue_depth', labels) === 0 &&
      m.value('sovereign_engine_batch_size', labels) === 0, 5000, 'the engine to be idle');
  });

  it('/metrics passes promtool and shows the engine at work under the backend label', async () => {
    const labels = { backend: BACKEND };
    // One long generation in the only slot and one request waiting behind it.
    let running;
    const started = new Promise((resolve) => { running = resolve; });
    const blocker = stream(longBody(), {
      onEvent: (event, req) => {
        if (event.data !== '[DONE]' && contentOf(JSON.parse(event.data))) running(req);
      },
    });
    const blockerReq = await started;
    const waiting = gw.chat(KEY, { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, seed: 1 });
    const busy = await gw.waitForMetrics((m) => m.value('sovereign_engine_queue_depth', labels) === 1, 1500,
      'one request waiting behind the running one');
    blockerReq.destroy();
    await blocker;
    assert.equal((await waiting).status, 200);

    assert.equal(busy.value('sovereign_engine_batch_size', labels), 1, busy.text);
    assert.ok(busy.value('sovereign_engine_kv_cache_used_ratio', labels) > 0, busy.text);
    assert.ok(busy.value('sovereign_engine_kv_cache_used_ratio', labels) <= 1, busy.text);
    assert.ok(busy.value('sovereign_engine_tokens_per_second', labels) > 0, busy.text);
    for (const name of ['sovereign_engine_queue_depth', 'sovereign_engine_batch_size', 'sovereign_engine_tokens_per_second',
      'sovereign_engine_kv_cache_used_ratio', 'sovereign_engine_gpu_memory_bytes']) {
      const samples = busy.matching(name, labels);
      assert.equal(samples.length, 1, `${name} for ${BACKEND}:\n${busy.text}`);
      assert.match(samples[0].labels.device, /^cpu\b/, JSON.stringify(samples[0]));
      assert.equal(busy.types[name], 'gauge', name);
    }
    assert.equal(busy.value('sovereign_engine_gpu_memory_bytes', labels), 0, 'a CPU engine holds no GPU memory');

    const res = await gw.admin('/metrics');
    assert.equal(res.status, 200);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    assert.equal(check.error, undefined, `promtool could not run: ${check.error}`);
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}\n--- metrics:\n${res.text}`);
  });

  it('the tokens-per-second gauge falls to 0 once the engine is idle', async () => {
    await gw.waitForMetrics((m) => m.value('sovereign_engine_batch_size', { backend: BACKEND }) === 0, 5000, 'idle');
    await sleep(5500);
    const m = await gw.metrics();
    const rate = m.value('sovereign_engine_tokens_per_second', { backend: BACKEND });
    assert.equal(rate, 0, `sovereign_engine_tokens_per_second is ${rate} after 5.5 s without a token`);
  });
});

describe('a local backend whose model has a chat template the engine does not recognise', { timeout: 120000 }, () => {
  let dir;
  let gw;

  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves with the documented fallback and logs a warning once, at load, saying which format it uses', async () => {
    dir = tempDir('sovereign-local-template-');
    const demo = await makeDemoModel(dir);
    // The template's text overwritten in place (same length) with text that has no known markers.
    const bytes = fs.readFileSync(demo);
    const key = Buffer.concat([Buffer.from('tokenizer.chat_template'), Buffer.from([8, 0, 0, 0])]);
    const at = bytes.indexOf(key);
    assert.ok(at > 0, 'the demo model has a tokenizer.chat_template string');
    const length = Number(bytes.readBigUInt64LE(at + key.length));
    bytes.fill('x'.charCodeAt(0), at + key.length + 8, at + key.length + 8 + length);
    const model = path.join(dir, 'odd-template.gguf');
    fs.writeFileSync(model, bytes);

    const info = await runCli(['model', 'info', model]);
    assert.equal(info.code, 0, info.output);
    assert.match(info.output, /chat template: {2}chatml \(fallback: the file's tokenizer\.chat_template is not one this engine recognises/, info.output);

    gw = await Gateway.start({
      tenants: [tenant({ name: 'main', keys: [KEY], models: ['odd'] })],
      backends: [{ name: 'odd-engine', type: 'local', zone: 'site', models: ['odd'], model_file: model, device: 'cpu',
        context_length: 256, max_batch: 1 }],
    }, { readyTimeoutMs: 60000 });
    const res = await gw.chat(KEY, { model: 'odd', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2, seed: 1 });
    assert.equal(res.status, 200, res.text);
    const warnings = gw.stderr.split('\n').filter((l) => l.includes('chat_template_fallback'));
    assert.equal(warnings.length, 1, gw.stderr);
    assert.match(warnings[0], /backend 'odd-engine' model .*odd-template\.gguf: the file's tokenizer\.chat_template is not one this engine recognises .* rendered as chatml/, warnings[0]);
  });
});

describe('a local backend whose model computes NaN', { timeout: 120000 }, () => {
  let dir;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-local-nan-');
    const demo = path.join(dir, 'demo-f32.gguf');
    const made = await runCli(['model', 'make-demo', demo, '--type', 'f32'], { timeoutMs: 60000 });
    assert.equal(made.code, 0, made.output);
    // Every embedding NaN: a matrix, not scanned at load, so the model loads and its logits are NaN.
    const model = brokenModel(demo, path.join(dir, 'nan-embedding.gguf'), NaN, ['token_embd.weight']);
    gw = await Gateway.start({
      tenants: [tenant({ name: 'main', keys: [KEY], models: ['nan'] })],
      backends: [{ name: 'nan-engine', type: 'local', zone: 'site', models: ['nan'], model_file: model, device: 'cpu',
        context_length: 256, max_batch: 2 }],
    }, { readyTimeoutMs: 60000 });
  });

  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers 502 model_numerical_fault in OpenAI shape, not 200 with garbage', async () => {
    for (const temperature of [0, 1]) {
      const res = await gw.chat(KEY, { model: 'nan', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature });
      assertError(res, { status: 502, type: 'upstream_error', code: 'model_numerical_fault' }, `temperature ${temperature}`);
      assert.match(res.json.error.message, /model 'nan' on a numerical fault: the model produced non-finite logits \(NaN or infinity\)/, res.text);
    }
    const completion = await gw.api({ key: KEY, method: 'POST', path: '/v1/completions',
      body: { model: 'nan', prompt: 'Hello', max_tokens: 4 } });
    assertError(completion, { status: 502, code: 'model_numerical_fault' }, 'completions');
  });

  it('ends a stream with one error event naming the fault, and no [DONE]', async () => {
    const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` },
      body: { model: 'nan', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, stream: true }, timeoutMs: 60000 });
    assert.equal(res.status, 200);
    const last = res.events.at(-1);
    assert.notEqual(last.data, '[DONE]', JSON.stringify(res.events));
    const error = JSON.parse(last.data).error;
    assert.equal(error?.code, 'model_numerical_fault', last.data);
    assert.match(error.message, /non-finite logits/, last.data);
    assert.ok(!res.events.some((e) => e.data !== '[DONE]' && JSON.parse(e.data).choices?.[0]?.delta?.content), 'no text was sent');
  });
});

describe('sovereign config check on local backends', () => {
  let dir;
  let demo;

  before(async () => {
    dir = tempDir('sovereign-local-check-');
    demo = await makeDemoModel(dir);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // A config with one local backend per entry of `models` ({name: model_file}); line numbers of
  // each backend's model_file are returned for the diagnostics.
  function writeConfig(name, models, { device = 'cpu', contextLength = 256, threads } = {}) {
    const lines = [
      'listeners:', '  - name: api', '    address: 127.0.0.1', '    port: 18080',
      'boundary: [127.0.0.1/32]',
      'tenants:', '  - name: t', '    api_keys:', `      - sha256: ${sha256Hex('sk-check')}`,
      `    models: [${Object.keys(models).map((b) => `m-${b}`).join(', ')}]`,
      'backends:',
    ];
    const modelLines = {};
    const contextLines = {};
    const threadLines = {};
    for (const [backend, file] of Object.entries(models)) {
      lines.push(`  - name: ${backend}`, '    type: local', '    zone: site', `    models: [m-${backend}]`);
      modelLines[backend] = lines.length + 1;
      contextLines[backend] = lines.length + 3;
      lines.push(`    model_file: ${file}`, `    device: ${device}`, `    context_length: ${contextLength}`, '    max_batch: 2');
      threadLines[backend] = lines.length + 1;
      if (threads !== undefined) lines.push(`    threads: ${threads}`);
    }
    const file = path.join(dir, name);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return { file, modelLines, contextLines, threadLines };
  }

  it('accepts a local backend whose model file is a valid GGUF model', async () => {
    const { file } = writeConfig('good.yaml', { 'good-engine': demo });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 0, result.output);
  });

  it('reports a missing model file at its line, exit 1', async () => {
    const { file, modelLines } = writeConfig('missing.yaml', { 'good-engine': demo, 'missing-engine': 'models/nowhere.gguf' });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    const where = `${file}:${modelLines['missing-engine']}:`;
    const line = result.output.split('\n').find((l) => l.startsWith(where));
    assert.ok(line, `no diagnostic at ${where}:\n${result.output}`);
    assert.match(line, /models\/nowhere\.gguf' does not exist/, line);
    assert.ok(!result.output.includes('good-engine'), result.output);
  });

  it('refuses a GPU that this machine or build does not have, in the words serve uses', async () => {
    const { file } = writeConfig('no-gpu.yaml', { 'gpu-engine': demo }, { device: 'cuda:7' });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    const line = result.output.split('\n').find((l) => l.includes("backend 'gpu-engine'"));
    assert.ok(line, result.output);
    assert.match(line, /device 'cuda:7' is not available: /, line);
    const reason = line.slice(line.indexOf("device 'cuda:7'"));
    const served = await runCli(['serve', '--config', file], { timeoutMs: 30000 });
    assert.notEqual(served.code, 0, served.output);
    assert.ok(served.output.includes(reason), `serve should refuse with the same words:\n${reason}\n--- serve:\n${served.output}`);
  });

  it('reports a context_length beyond the model\'s training at the context_length line, not the model_file line', async () => {
    const { file, contextLines } = writeConfig('long-context.yaml', { 'long-engine': demo }, { contextLength: 100000 });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    const line = result.output.split('\n').find((l) => l.includes("backend 'long-engine'"));
    assert.ok(line, result.output);
    assert.ok(line.startsWith(`${file}:${contextLines['long-engine']}:`), line);
    assert.match(line, /context_length 100000 exceeds the model's trained context of 2048 tokens/, line);
  });

  it('refuses a model whose norm weights hold NaN or an infinity, naming the tensor, in config check and model info', async () => {
    const demo32 = path.join(dir, 'demo-f32.gguf');
    const made = await runCli(['model', 'make-demo', demo32, '--type', 'f32'], { timeoutMs: 60000 });
    assert.equal(made.code, 0, made.output);
    for (const [value, words] of [[NaN, 'NaN'], [Infinity, 'an infinity']]) {
      const bad = brokenModel(demo32, path.join(dir, `norm-${words.replace(' ', '-')}.gguf`), value, ['output_norm.weight'], 1);
      const expected = `${bad}: tensor 'output_norm.weight' holds ${words} at index 0; the model file is corrupt`;
      const { file } = writeConfig(`norm-${words.replace(' ', '-')}.yaml`, { 'norm-engine': bad });
      const result = await runCli(['config', 'check', file]);
      assert.equal(result.code, 1, result.output);
      assert.ok(result.output.includes(`backend 'norm-engine': ${expected}`), result.output);
      const info = await runCli(['model', 'info', bad]);
      assert.equal(info.code, 1, info.output);
      assert.ok(info.output.includes(`sovereign model info: ${expected}`), info.output);
    }
  });

  it('model info --help and make-demo --help print the usage; make-demo replaces an existing file only with --force', async () => {
    for (const args of [['model', 'info', '--help'], ['model', 'make-demo', '--help']]) {
      const help = await runCli(args);
      assert.equal(help.code, 0, help.output);
      assert.match(help.output, /^usage: sovereign model COMMAND/, help.output);
    }
    const notes = path.join(dir, 'notes.txt');
    fs.writeFileSync(notes, 'keep me');
    const refused = await runCli(['model', 'make-demo', notes]);
    assert.equal(refused.code, 1, refused.output);
    assert.ok(refused.output.includes(`${notes} already exists; pass --force to replace it or choose another path`), refused.output);
    assert.equal(fs.readFileSync(notes, 'utf8'), 'keep me');
    const fifo = path.join(dir, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const onFifo = await runCli(['model', 'make-demo', fifo, '--force']);
    assert.equal(onFifo.code, 1, onFifo.output);
    assert.match(onFifo.output, /refusing to write .*pipe: it is a FIFO \(named pipe\)/, onFifo.output);
    assert.ok(fs.statSync(fifo).isFIFO());
    const forced = await runCli(['model', 'make-demo', notes, '--force']);
    assert.equal(forced.code, 0, forced.output);
    assert.equal(fs.readFileSync(notes).subarray(0, 4).toString(), 'GGUF');
  });

  it('bounds threads at 1024 and warns, at the line, where threads exceed the hardware threads', async () => {
    const over = writeConfig('threads-over.yaml', { 'busy-engine': demo }, { threads: 1025 });
    const refused = await runCli(['config', 'check', over.file]);
    assert.equal(refused.code, 1, refused.output);
    assert.ok(refused.output.includes(`${over.file}:${over.threadLines['busy-engine']}:`), refused.output);
    assert.match(refused.output, /'threads' must be .*1024/, refused.output);

    // More threads than cores is legal (a shared core is slow, not wrong), so a warning, exit 0.
    const cores = os.availableParallelism();
    const many = writeConfig('threads-many.yaml', { 'busy-engine': demo }, { threads: 1024 });
    const warned = await runCli(['config', 'check', many.file]);
    assert.equal(warned.code, 0, warned.output);
    if (cores < 1024)
      assert.ok(warned.output.includes(`${many.file}:${many.threadLines['busy-engine']}:14: warning: backend 'busy-engine': ` +
        'threads 1024 exceeds the '), warned.output);
    const fits = writeConfig('threads-fit.yaml', { 'busy-engine': demo }, { threads: 1 });
    const quiet = await runCli(['config', 'check', fits.file]);
    assert.equal(quiet.code, 0, quiet.output);
    assert.ok(!quiet.output.includes('warning'), quiet.output);
  });

  it('names the backend whose model file is missing', async () => {
    const { file } = writeConfig('missing-named.yaml', { 'missing-engine': 'models/nowhere.gguf' });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /backend 'missing-engine'/, result.output);
  });

  it('refuses a model file that serve would refuse (a metadata value out of range), naming the key and its byte offset', async () => {
    // The demo file with attention.head_count set to 0: the key is followed by its type (u32) and value.
    const bytes = fs.readFileSync(demo);
    const key = Buffer.concat([Buffer.from('llama.attention.head_count'), Buffer.from([4, 0, 0, 0])]);
    const at = bytes.indexOf(key);
    assert.ok(at > 0, 'the demo model has llama.attention.head_count as a u32');
    bytes.writeUInt32LE(0, at + key.length);
    const bad = path.join(dir, 'no-heads.gguf');
    fs.writeFileSync(bad, bytes);
    const valueAt = at + key.length - 4;
    const expected = `${bad}: metadata key 'llama.attention.head_count' (byte ${valueAt}) is 0, expected 1..1024`;

    const { file } = writeConfig('no-heads.yaml', { 'good-engine': demo, 'no-heads-engine': bad });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    assert.ok(result.output.includes(`backend 'no-heads-engine': ${expected}`), result.output);
    assert.ok(!result.output.includes('good-engine'), result.output);

    const info = await runCli(['model', 'info', bad]);
    assert.equal(info.code, 1, info.output);
    assert.ok(info.output.includes(`sovereign model info: ${expected}`), info.output);
  });

  it('shows terminal control sequences from a hostile model file escaped in config check, model info and accel bench', async () => {
    // The demo file with general.architecture 'llama' overwritten by ESC [ 3 1 m (as long: 5 bytes).
    const bytes = fs.readFileSync(demo);
    const value = Buffer.concat([Buffer.from('general.architecture'), Buffer.from([8, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from('llama')]);
    const at = bytes.indexOf(value);
    assert.ok(at > 0, 'the demo model names its architecture llama');
    Buffer.from('\x1b[31m').copy(bytes, at + value.length - 5);
    const hostile = path.join(dir, 'escape.gguf');
    fs.writeFileSync(hostile, bytes);

    const { file } = writeConfig('escape.yaml', { 'escape-engine': hostile });
    const runs = [await runCli(['config', 'check', file]), await runCli(['model', 'info', hostile]),
      await runCli(['accel', 'bench', '--model', hostile, '--threads', '1'])];
    for (const run of runs) {
      assert.equal(run.code, 1, run.output);
      assert.ok(run.output.includes("metadata key 'general.architecture' (byte ") &&
        run.output.includes(") is '\\x1B[31m'; this engine runs 'llama'"), run.output);
      assert.ok(!run.output.includes('\x1b'), `a raw ESC reached the terminal: ${JSON.stringify(run.output)}`);
    }
  });

  it('reports a garbage or truncated model file naming the backend, exit 1', async () => {
    const garbage = path.join(dir, 'garbage.gguf');
    fs.writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const truncated = path.join(dir, 'truncated.gguf');
    fs.writeFileSync(truncated, fs.readFileSync(demo).subarray(0, 200000));
    const { file } = writeConfig('garbage.yaml', { 'good-engine': demo, 'garbage-engine': garbage, 'cut-engine': truncated });
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    // Worded as `serve` words them: backend 'NAME': FILE: what is wrong.
    assert.match(result.output, new RegExp(`backend 'garbage-engine': .*garbage\\.gguf: .*not a GGUF file`), result.output);
    assert.match(result.output, new RegExp(`backend 'cut-engine': .*truncated\\.gguf: byte \\d+ .*outside the 200000-byte file`), result.output);
    assert.match(result.output, /2 problem\(s\) beyond the file itself/, result.output);
    assert.ok(!result.output.includes('good-engine'), result.output);
  });
});

describe('sovereign accel bench options', () => {
  it('refuses a GEMV input other than int16 or float with usage, exit 2, and runs with float on the demo model', async () => {
    const bad = await runCli(['accel', 'bench', '--shape', 'llama-3.2-1b', '--gemv-input', 'int8']);
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /--gemv-input is int16 or float, got 'int8'/, bad.output);
    const dir = tempDir('sovereign-bench-');
    try {
      const model = await makeDemoModel(dir);
      const run = await runCli(['accel', 'bench', '--model', model, '--gemv-input', 'float', '--prefill', '4',
        '--batches', '1', '--steps', '1', '--threads', '1'], { timeoutMs: 60000 });
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /^decode\s+1\s/m, run.output);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses threads beyond 1024 with usage, exit 2, and threads the system will not start with the reason, exit 1', async () => {
    const dir = tempDir('sovereign-bench-');
    try {
      const model = await makeDemoModel(dir);
      // Far beyond what a process may start: refused before any is started (it aborted).
      const many = await runCli(['accel', 'bench', '--model', model, '--threads', '100000', '--prefill', '4',
        '--batches', '1', '--steps', '1'], { timeoutMs: 60000 });
      assert.equal(many.code, 2, many.output);
      assert.match(many.output, /--threads must be at most 1024, got 100000/, many.output);

      // Under a process limit the threads cannot all start: refused with the count and the system's
      // reason, exit 1 (it was std::terminate). The model is made readable to nobody, who runs it as root.
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(model, 0o644);
      const limited = spawnSync(...underProcessLimit(64, gatewayBin(), ['accel', 'bench', '--model', model,
        '--threads', '512', '--prefill', '4', '--batches', '1', '--steps', '1']), { encoding: 'utf8', timeout: 60000 });
      const output = `${limited.stdout}${limited.stderr}`;
      assert.equal(limited.status, 1, output);
      assert.match(output, /sovereign accel bench: cannot start 512 CPU threads \(Resource temporarily unavailable\); lower 'threads'/, output);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A reload that asks for more CPU threads than the process may start is rejected at `threads` (the
// gateway called std::terminate), and the engine it had keeps serving.
describe('a reload asking for CPU threads the system will not start', { timeout: 120000 }, () => {
  const LIMITED_KEY = 'sk-local-engine-limited';
  let dir;
  let gw;
  let backend;

  before(async () => {
    dir = tempDir('sovereign-threads-');
    fs.chmodSync(dir, 0o755);  // the gateway may run as nobody (underProcessLimit)
    const model = await makeDemoModel(dir);
    fs.chmodSync(model, 0o644);
    backend = { name: 'engine', type: 'local', zone: 'site', models: ['demo'], model_file: model, device: 'cpu',
      context_length: 256, max_batch: 1, threads: 1 };
    gw = await Gateway.start({ tenants: [tenant({ name: 'main', keys: [LIMITED_KEY], models: ['demo'] })],
      backends: [backend] }, { readyTimeoutMs: 60000, processLimit: 64 });
  });

  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is rejected at the threads setting, and the running engine keeps answering', async () => {
    const from = gw.stderr.length;
    await gw.reload({ tenants: [tenant({ name: 'main', keys: [LIMITED_KEY], models: ['demo'] })],
      backends: [{ ...backend, threads: 512 }] });
    const log = await gw.waitForStderr(/reload_rejected/, from, 30000, 'the rejected reload');
    const line = fs.readFileSync(gw.configPath, 'utf8').split('\n').findIndex((l) => l.trim() === 'threads: 512') + 1;
    assert.ok(line > 0);
    assert.ok(log.includes(`${gw.configPath}:${line}:`) || log.includes(`gateway.yaml:${line}:`), log);
    assert.match(log, /cannot start 512 CPU threads \(Resource temporarily unavailable\); lower 'threads'/, log);
    assert.ok(gw.process.running, 'the gateway is still running');
    const res = await gw.chat(LIMITED_KEY, { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    assert.equal(res.status, 200, res.text);
  });
});
