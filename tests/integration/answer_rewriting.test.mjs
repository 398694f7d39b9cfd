// What the client gets back when a backend's answer is rewritten (vault tokens restored, values the
// model wrote redacted), against an upstream that writes its answers byte for byte as each test
// scripts them: tokens and characters cut anywhere, escaped, in tool-call arguments, text after
// the stream's end. Each case runs streamed and whole, on chat and on completions where it applies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { Gateway, openaiBackend, tenant, bearer, sha256Hex, runCli, stopAndRemove } from './lib/gateway.mjs';
import { writeAnswer, writeAnswerWithCall, startScriptedUpstream, event, chatEvent, toolCall } from './lib/scripted_answers.mjs';
import { readSse } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { evidenceDir, evidenceSections, auditQuery, recordsOf } from './lib/evidence.mjs';
import { sitePolicy, tokenizeRule } from './lib/policies.mjs';

const KEY = 'sk-rewriting';
const EMAIL = 'alice.smith@example.com';
const CONVERSATION = { 'X-Conversation-Id': 'conv-rewriting' };

// The policy's own detectors (Windows accounts, project code names), tokenized with e-mail addresses.
const DETECTORS = `  - name: windows_account
    class: confidential
    pattern: 'CORP\\\\[a-z]{2,20}'
  - name: codename
    class: confidential
    pattern: 'Project "[A-Z][a-z]{1,20}"'
`;

const POLICY = sitePolicy({ name: 'answer-rewriting-itest', classes: ['public', 'internal', 'confidential'],
  defaultClearance: 'public', zoneDescription: 'the scripted upstream', detectors: DETECTORS,
  tenants: [{ name: 'rewriting', clearance: 'confidential' }],
  redactInAnswers: ['credit_card', 'it_codice_fiscale', 'us_ssn', 'ipv4', 'ipv6'],
  rules: tokenizeRule('tokenize-identities', ['email', 'windows_account', 'codename']) });

const completionEvent = (text, finish = null) =>
  event({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text, finish_reason: finish }] });

describe('answers rewritten on their way back', { timeout: 120000 }, () => {
  let dir;
  let upstream;
  let gw;
  let plain;  // the same upstream through a gateway without a policy: streams relayed untouched
  let token;

  // The next answer of the upstream (lib/scripted_answers.mjs).
  function answerWith(chunks, contentType = 'text/event-stream', stallMs = 0, destroy = false) {
    writeAnswer(dir, chunks, contentType, stallMs, destroy);
  }

  // The text pieces as the endpoint's answer, streamed (one event per piece, then [DONE]) or whole.
  function answerText(endpoint, pieces, streamed) {
    const chat = endpoint === 'chat';
    if (streamed) {
      const events = pieces.map((p) => (chat ? chatEvent({ content: p }) : completionEvent(p)));
      events.push(chat ? chatEvent({}, 'stop') : completionEvent('', 'stop'), 'data: [DONE]\n\n');
      return answerWith(events);
    }
    const text = pieces.join('');
    const choice = chat ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }
      : { index: 0, text, finish_reason: 'stop' };
    answerWith([JSON.stringify({ id: 'x-1', object: chat ? 'chat.completion' : 'text_completion', choices: [choice] })],
      'application/json');
  }

  function answerWithCall(content, written, call, cut = null) {
    writeAnswerWithCall(dir, content, written, call, cut);
  }

  // Asks for a chat answer with a tool call, streamed or not: its content and the call's arguments
  // as the client reads them.
  async function askForCall(body, streamed, headers) {
    let text = '';
    let args = '';
    if (streamed) {
      const sse = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { ...bearer(KEY), ...headers },
        body: { ...body, stream: true } });
      assert.equal(sse.events.at(-1)?.data, '[DONE]', JSON.stringify(sse.events));
      for (const e of sse.events.slice(0, -1)) {
        for (const c of JSON.parse(e.data).choices) {
          text += c.delta?.content ?? '';
          args += c.delta?.tool_calls?.[0]?.function?.arguments ?? '';
        }
      }
      return { text, args };
    }
    const answer = await gw.chat(KEY, body, { headers });
    assert.equal(answer.status, 200, answer.text);
    return { text: answer.json.choices[0].message.content, args: answer.json.choices[0].message.tool_calls[0].function.arguments };
  }

  // Asks the endpoint, streamed or not; returns the answer's text as the client reads it, and the
  // raw events of a stream.
  async function ask(endpoint, streamed, headers = CONVERSATION, via = gw) {
    const chat = endpoint === 'chat';
    const body = chat ? { model: 'm', messages: [{ role: 'user', content: 'Go on.' }] } : { model: 'm', prompt: 'Go on.' };
    const urlPath = chat ? '/v1/chat/completions' : '/v1/completions';
    if (!streamed) {
      const res = await via.api({ key: KEY, method: 'POST', path: urlPath, body, headers });
      assert.equal(res.status, 200, res.text);
      const choice = res.json.choices[0];
      return { text: chat ? choice.message.content : choice.text, raw: res.text };
    }
    const res = await readSse({ port: via.apiPort, path: urlPath, headers: { ...bearer(KEY), ...headers },
      body: { ...body, stream: true } });
    assert.equal(res.status, 200, JSON.stringify(res));
    assert.equal(res.events.at(-1)?.data, '[DONE]', JSON.stringify(res.events));
    const chunks = res.events.slice(0, -1).map((e) => JSON.parse(e.data));
    const text = chunks.map((c) => (chat ? c.choices?.[0]?.delta?.content : c.choices?.[0]?.text) ?? '').join('');
    return { text, raw: res.events.map((e) => e.data).join('\n'), res };
  }

  before(async () => {
    let keys;
    let policyFile;
    ({ dir, keys, policyFile } = await evidenceDir('sovereign-rewriting-itest-', { policy: POLICY }));
    upstream = await startScriptedUpstream(dir);
    const config = (audit) => ({
      tenants: [tenant({ name: 'rewriting', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'scripted', models: ['m'], upstreams: [upstream] })],
      ...evidenceSections(keys, path.join(dir, audit)),
    });
    gw = await Gateway.start({ ...config('audit'), policy: policyFile });
    plain = await Gateway.start(config('audit-plain'));
    // The conversation's token for EMAIL, as the upstream received it.
    const res = await gw.chat(KEY, { model: 'm', messages: [{ role: 'user', content: `Mail ${EMAIL}.` }] }, { headers: CONVERSATION });
    assert.equal(res.status, 200, res.text);
    await upstream.waitForRequests(1);
    token = upstream.requests()[0].body.match(/⟦EMAIL_[0-9a-f]+⟧/)?.[0];
    assert.ok(token, upstream.requests()[0].body);
  });

  after(async () => {
    await stopAndRemove(dir, gw, plain, upstream);
  });

  it('an X-Conversation-Id over 128 bytes is refused, never cut short into another conversation\'s scope', async () => {
    const long = 'c'.repeat(128);
    const refused = await gw.chat(KEY, { model: 'm', messages: [{ role: 'user', content: `Mail ${EMAIL}.` }] },
      { headers: { 'X-Conversation-Id': `${long}-user-a` } });
    assertError(refused, { status: 400, code: 'invalid_request' }, 'a 135-byte conversation id');
    assert.match(refused.json.error.message, /X-Conversation-Id header has 135 bytes; it may have at most 128/);
    // 128 bytes is a scope of its own: the token of conv-rewriting is not restored there.
    answerText('chat', [`Write to ${token}.`], false);
    assert.equal((await ask('chat', false, { 'X-Conversation-Id': long })).text, `Write to ${token}.`);
  });

  it('a card the model writes among accented characters is redacted, and no character reaches the client cut in two', async () => {
    const text = 'Café card: 4111 1111 1111 1111 — naïve ✓ für 日本 done';
    const expected = 'Café card: [REDACTED:credit_card] — naïve ✓ für 日本 done';
    for (const endpoint of ['chat', 'completions']) {
      for (const streamed of [true, false]) {
        const pieces = streamed ? [...text] : [text];  // one character per event
        answerText(endpoint, pieces, streamed);
        const { text: got, raw } = await ask(endpoint, streamed);
        assert.equal(got, expected, `${endpoint}, streamed: ${streamed}`);
        assert.ok(!raw.includes('\uFFFD'), `a character was cut in two (${endpoint}, streamed: ${streamed}): ${raw}`);
      }
    }
  });

  it('a card the model wraps over lines or writes one group a line is redacted, cut at every character', async () => {
    const text = 'Your card:\n4111 1111\n1111 1111\nand the spare:\r\n5555\r\n5555\r\n5555\r\n4444\r\nend';
    const expected = 'Your card:\n[REDACTED:credit_card]\nand the spare:\r\n[REDACTED:credit_card]\r\nend';
    for (const endpoint of ['chat', 'completions']) {
      for (const streamed of [true, false]) {
        answerText(endpoint, streamed ? [...text] : [text], streamed);  // streamed: one character per event
        const { text: got, raw } = await ask(endpoint, streamed);
        assert.equal(got, expected, `${endpoint}, streamed: ${streamed}`);
        assert.ok(!raw.includes('4111') && !raw.includes('5555'), raw);
      }
    }
  });

  it('an Italian fiscal code with digits replaced by letters (omocodia) is redacted on its own, streamed and whole', async () => {
    // Two, three and all seven digits replaced: no other digits near them, cut at every character.
    const text = 'Codici: RSSMRA85T10A5SNT, RSSMRA85T10ARSNO e RSSMRAURTMLARSNL.';
    const expected = 'Codici: [REDACTED:it_codice_fiscale], [REDACTED:it_codice_fiscale] e [REDACTED:it_codice_fiscale].';
    for (const endpoint of ['chat', 'completions']) {
      for (const streamed of [true, false]) {
        answerText(endpoint, streamed ? [...text] : [text], streamed);
        const { text: got, raw } = await ask(endpoint, streamed);
        assert.equal(got, expected, `${endpoint}, streamed: ${streamed}`);
        assert.ok(!raw.includes('RSSMRA'), raw);
      }
    }
  });

  it('an IPv4 address written inside an IPv6 one is removed whole, not only up to where the IPv6 finding ends', async () => {
    // Each address is the whole of it to both detectors (the marker names the first, ipv4): one marker
    // covers it, and no tail of the IPv4 address follows it, streamed one character an event or whole.
    const text = 'connection from ::ffff:10.20.30.40 refused; host 2001:db8::1.2.3.4 is up';
    const expected = 'connection from [REDACTED:ipv4] refused; host [REDACTED:ipv4] is up';
    for (const endpoint of ['chat', 'completions']) {
      for (const streamed of [true, false]) {
        answerText(endpoint, streamed ? [...text] : [text], streamed);
        const { text: got, raw } = await ask(endpoint, streamed);
        assert.equal(got, expected, `${endpoint}, streamed: ${streamed}`);
        assert.ok(!raw.includes('.20.30.40') && !raw.includes('.2.3.4'), raw);
      }
    }
  });

  it('"data: [DONE]" written inside an answer is text; the outcome record holds the digest of the whole answer', async () => {
    const pieces = ['Streams end with data: [DONE] and', ' then the connection closes.'];
    answerText('chat', pieces, true);
    const { text, res } = await ask('chat', true);
    assert.equal(text, pieces.join(''));
    const id = res.headers['x-request-id'];
    const relayed = res.events.map((e) => `data: ${e.data}\n\n`).join('');
    let records = [];
    for (const deadline = Date.now() + 10000; records.length === 0 && Date.now() < deadline;) {
      records = recordsOf(await auditQuery(path.join(dir, 'audit')), id).outcome;
      if (records.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(records.length, 1, `one outcome record for ${id}`);
    assert.equal(records[0].bytes_out, Buffer.byteLength(relayed), JSON.stringify(records[0]));
    assert.equal(records[0].response_sha256, sha256Hex(relayed));
  });

  it('what a backend sends after data: [DONE] is not relayed, streamed chat and completions alike', async () => {
    for (const endpoint of ['chat', 'completions']) {
      const chat = endpoint === 'chat';
      const piece = (text, index = 0) => (chat ? chatEvent({ content: text }, null, index) : completionEvent(text));
      answerWith([piece('hello'), ': a comment line\n\n', piece(' world'), 'data: [DONE]\n\n',
        piece('after the end'), piece(`card 4111 1111`, 1), 'data: [DONE]\n\n']);
      const { text, res } = await ask(endpoint, true);
      assert.equal(text, 'hello world', endpoint);
      assert.equal(res.events.filter((e) => e.data === '[DONE]').length, 1, JSON.stringify(res.events));
      assert.equal(res.rest, '');
    }
  });

  it('after data: [DONE] the answer, its access log line and outcome record end at once; the backend is read no further, with a policy or without', async () => {
    // The backend's timeout is 10 s: a gateway that waited for the body's end would hold each answer that long.
    const held = [chatEvent({ content: 'hello' }), chatEvent({}, 'stop'), 'data: [DONE]\n\n'];
    const junk = [...held, chatEvent({ content: 'after the end' }), 'not an event at all\n\n', 'data: {"broken\n\n'];
    // Without a policy the stream is relayed as it comes, and only its end line is looked for.
    const crlf = [chatEvent({ content: 'hello' }).replace(/\n/g, '\r\n'), 'data: [DONE]\r\n', '\r\n', chatEvent({ content: 'no' })];
    // Lone CRs end lines too (clients read them so); the end line and its blank line in one write.
    const cr = [chatEvent({ content: 'hello' }).replace(/\n/g, '\r'), 'data: [DONE]\r\r', chatEvent({ content: 'no' })];
    const cases = [['held open', held, 20000], ['junk after the end', junk, 0], ['junk, then held open', junk, 20000]];
    for (const [what, chunks, stallMs, via, audit] of [...cases.map((c) => [...c, gw, 'audit']),
      ...cases.map(([w, c, ms]) => [`${w}, no policy`, c, ms, plain, 'audit-plain']),
      ['CRLF, the blank line in the next write, held open, no policy', crlf, 20000, plain, 'audit-plain'],
      ['lone CR line ends, held open', cr, 20000, gw, 'audit'],
      ['lone CR line ends, held open, no policy', cr, 20000, plain, 'audit-plain']]) {
      answerWith(chunks, 'text/event-stream', stallMs);
      const before = upstream.events().length;
      const started = Date.now();
      const { text, res } = await ask('chat', true, CONVERSATION, via);
      const elapsed = Date.now() - started;
      assert.equal(text, 'hello', what);
      assert.equal(res.events.filter((e) => e.data === '[DONE]').length, 1, `${what}: ${JSON.stringify(res.events)}`);
      assert.equal(res.rest, '', what);
      assert.equal(res.brokenBy, null, `${what}: the answer ended cleanly`);
      assert.ok(elapsed < 3000, `${what}: the answer took ${elapsed} ms`);
      const id = res.headers['x-request-id'];
      const access = await via.process.waitUntil(() => via.stderr.split('\n').filter((l) => l.includes('"type":"access"'))
        .map((l) => JSON.parse(l)).find((l) => l.request_id === id), 5000, `the access log line of ${id}`);
      assert.equal(access.status, 200, `${what}: ${JSON.stringify(access)}`);
      assert.equal(access.error, undefined, `${what}: ${JSON.stringify(access)}`);
      assert.ok(access.duration_us < 3e6, `${what}: ${JSON.stringify(access)}`);
      // Strict durability: the outcome record was on disk before the answer's end left.
      const outcome = recordsOf(await auditQuery(path.join(dir, audit)), id).outcome;
      assert.equal(outcome.length, 1, `${what}: one outcome record for ${id}`);
      assert.equal(outcome[0].status, 200, `${what}: ${JSON.stringify(outcome[0])}`);
      assert.ok(!outcome[0].error, `${what}: ${JSON.stringify(outcome[0])}`);
      if (stallMs > 0) {
        // The gateway closed the connection the backend held open, rather than waiting or pooling it.
        await upstream.process.waitUntil(() => upstream.events().slice(before).find((e) => e.event === 'aborted'),
          5000, `${what}: the gateway to close the held stream`);
        const count = upstream.requests().length;
        const port = upstream.requests().at(-1).remote_port;
        answerText('chat', ['next'], false);
        assert.equal((await ask('chat', false, CONVERSATION, via)).text, 'next');
        await upstream.waitForRequests(count + 1);
        assert.notEqual(upstream.requests().at(-1).remote_port, port, `${what}: the held connection was reused`);
      }
    }
  });

  it('data lines a client reads behind a lone CR or a byte-order mark are checked like any other (read with the openai client)', async () => {
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.apiPort}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20000 });
    const card = chatEvent({ content: 'card 4111 1111 1111 1111 ' });
    for (const [what, first] of [['after a comment ended by CR', `: note\r${card}`], ['after an event line ended by CR', `event: message\r${card}`],
      ['after a byte-order mark', `\uFEFF${card}`], ['with CR line ends', card.replace(/\n/g, '\r')]]) {
      answerWith([first, chatEvent({ content: 'end' }), chatEvent({}, 'stop'), 'data: [DONE]\n\n']);
      const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true },
        { headers: CONVERSATION });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'card [REDACTED:credit_card] end', what);
    }
  });

  it('an event whose data spans several data lines is read joined, as the openai client reads it: a card in it redacted, a token restored', async () => {
    // One JSON value over three data lines (the SSE specification joins them with LF).
    const overLines = (delta, finish = null) => {
      const json = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm',
        choices: [{ index: 0, delta, finish_reason: finish }] });
      const [choices, reason] = [json.indexOf('"choices"'), json.indexOf('"finish_reason"')];
      return `data: ${json.slice(0, choices)}\ndata: ${json.slice(choices, reason)}\ndata:${json.slice(reason)}\n\n`;
    };
    const events = [overLines({ role: 'assistant', content: 'card 4111 1111 ' }), overLines({ content: `1111 1111, mail ${token}.` }),
      overLines({}, 'stop'), 'data: [DONE]\n\n'];
    assert.ok(events[0].split('\n').filter((l) => l.startsWith('data:')).length === 3, events[0]);
    for (const via of [gw, plain]) {
      answerWith(events);
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${via.apiPort}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20000 });
      const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true },
        { headers: CONVERSATION });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      // Without a policy the stream goes out as it came, lines and all.
      assert.equal(text, via === gw ? `card [REDACTED:credit_card], mail ${EMAIL}.` : `card 4111 1111 1111 1111, mail ${token}.`);
    }
    // Events no filter changes keep their lines, byte for byte (text would be held back until the
    // scan knows where it ends, and released rewritten).
    answerWith([overLines({ role: 'assistant' }), overLines({}, 'stop'), 'data: [DONE]\n\n']);
    const res = await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions', headers: CONVERSATION,
      body: { model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, overLines({ role: 'assistant' }) + overLines({}, 'stop') + 'data: [DONE]\n\n');
  });

  it('a backend that dies inside an event: the text before it, then one error event, nothing after', async () => {
    const partial = chatEvent({ content: ' there' }).slice(0, 40);
    answerWith([chatEvent({ content: 'hello' }), partial], 'text/event-stream', 0, true);
    const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { ...bearer(KEY), ...CONVERSATION },
      body: { model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true } });
    assert.equal(res.status, 200, JSON.stringify(res));
    const parsed = res.events.map((e) => JSON.parse(e.data));
    const errors = parsed.filter((e) => e.error);
    assert.equal(errors.length, 1, JSON.stringify(res.events));
    assert.equal(errors[0].error.code, 'upstream_error', JSON.stringify(errors[0]));
    assert.ok(parsed.at(-1).error, `the error is the last event: ${JSON.stringify(res.events)}`);
    assert.equal(parsed.map((e) => e.choices?.[0]?.delta?.content ?? '').join(''), 'hello');
  });

  it('an answer that repeats a key is withheld, whole and streamed: a client may read the copy the check did not', async () => {
    answerWith([JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant' } }] })
      .replace('"role":"assistant"', '"role":"assistant","content":"card 4111 1111 1111 1111","content":"safe"')], 'application/json');
    const whole = await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions', headers: CONVERSATION,
      body: { model: 'm', messages: [{ role: 'user', content: 'Go on.' }] } });
    assertError(whole, { status: 502, code: 'response_check_failed' }, 'a whole answer repeating content');
    assert.match(whole.json.error.message, /repeats a key/);
    assert.ok(!whole.text.includes('4111'), whole.text);
    answerWith([chatEvent({ content: 'x' }).replace('"content":"x"', '"content":"card 4111 1111 1111 1111","content":"safe"'),
      'data: [DONE]\n\n']);
    const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { ...bearer(KEY), ...CONVERSATION },
      body: { model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true } });
    assert.ok(!JSON.stringify(res.events).includes('4111'), JSON.stringify(res.events));
    assert.equal(res.events.length, 1, JSON.stringify(res.events));
    assert.equal(JSON.parse(res.events[0].data).error.code, 'response_check_failed');
  });

  it('tokens in tool-call arguments are restored, written raw or with \\u escapes, values escaped for the JSON they stand in', async () => {
    // A Windows account holds a backslash: restored as it stands, it would break the arguments' JSON.
    const account = 'CORP\\jdoe';
    answerText('chat', ['noted'], false);
    const before = await upstream.settledRequestCount();  // every earlier request reported: ours is the next
    const res = await gw.chat(KEY, { model: 'm', messages: [{ role: 'user', content: `Log in as ${account}.` }] },
      { headers: CONVERSATION });
    assert.equal(res.status, 200, res.text);
    await upstream.waitForRequests(before + 1);
    const accountToken = upstream.requests().at(-1).body.match(/⟦WINDOWS_ACCOUNT_[0-9a-f]+⟧/)?.[0];
    assert.ok(accountToken, upstream.requests().at(-1).body);
    const escaped = (t) => t.replace('⟦', '\\u27e6').replace('⟧', '\\u27E7');
    const written = `{"to":"${token}","cc":"${escaped(token)}","as":"${escaped(accountToken)}","raw":"${accountToken}"}`;
    const expected = { to: EMAIL, cc: EMAIL, as: account, raw: account };
    const call = (args, first) => toolCall(args, first, 'send');
    for (const streamed of [true, false]) {
      if (streamed) {
        const pieces = [];
        for (let i = 0; i < written.length; i += 3) pieces.push(written.slice(i, i + 3));
        answerWith([chatEvent({ role: 'assistant', content: null, ...call('', true) }),
          ...pieces.map((p) => chatEvent(call(p, false))), chatEvent({}, 'tool_calls'), 'data: [DONE]\n\n']);
      } else {
        answerWith([JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
          message: { role: 'assistant', content: null, ...call(written, true) }, finish_reason: 'tool_calls' }] })],
        'application/json');
      }
      const body = { model: 'm', messages: [{ role: 'user', content: 'Send it.' }], stream: streamed };
      let args = '';
      if (streamed) {
        const sse = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { ...bearer(KEY), ...CONVERSATION }, body });
        assert.equal(sse.events.at(-1)?.data, '[DONE]', JSON.stringify(sse.events));
        for (const e of sse.events.slice(0, -1)) {
          for (const c of JSON.parse(e.data).choices) args += c.delta?.tool_calls?.[0]?.function?.arguments ?? '';
        }
      } else {
        const answer = await gw.chat(KEY, body, { headers: CONVERSATION });
        assert.equal(answer.status, 200, answer.text);
        args = answer.json.choices[0].message.tool_calls[0].function.arguments;
      }
      assert.deepEqual(JSON.parse(args), expected, `streamed: ${streamed}: ${args}`);
    }
  });

  it('values with a quote or backslash tokenized in a request\'s tool-call arguments come back as the client sent them, in content and in arguments, whole and streamed at every cut', async () => {
    // The arguments are JSON inside a JSON string: on the wire these values are escaped twice.
    const values = { as: 'CORP\\jdoe', topic: 'Project "Falcon"' };
    const sent = JSON.stringify({ ...values, note: 'for CORP\\jdoe about Project "Falcon"' });
    const messages = [{ role: 'user', content: 'Book the room.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'book', arguments: sent } }] },
      { role: 'tool', tool_call_id: 'call_0', content: 'booked' }];
    answerText('chat', ['noted'], false);
    const before = await upstream.settledRequestCount();  // every earlier request reported: ours is the next
    const res = await gw.chat(KEY, { model: 'm', messages }, { headers: CONVERSATION });
    assert.equal(res.status, 200, res.text);
    await upstream.waitForRequests(before + 1);
    const received = JSON.parse(upstream.requests().at(-1).body);
    const forwarded = received.messages[1].tool_calls[0].function.arguments;
    assert.ok(!forwarded.includes('jdoe') && !forwarded.includes('Falcon'), forwarded);
    const tokens = JSON.parse(forwarded);  // still JSON, the values' places taken by tokens
    assert.match(tokens.as, /^⟦WINDOWS_ACCOUNT_[0-9a-f]+⟧$/, forwarded);
    assert.match(tokens.topic, /^⟦CODENAME_[0-9a-f]+⟧$/, forwarded);
    assert.equal(tokens.note, `for ${tokens.as} about ${tokens.topic}`);

    const content = `Booked as ${tokens.as} for ${tokens.topic}.`;
    const expectedContent = `Booked as ${values.as} for ${values.topic}.`;
    const written = JSON.stringify({ user: tokens.as, topic: tokens.topic, line: `${tokens.as}: ${tokens.topic}` });
    const expectedArgs = { user: values.as, topic: values.topic, line: `${values.as}: ${values.topic}` };
    const call = (args, first) => toolCall(args, first, 'send');
    const body = { model: 'm', messages, stream: false };
    const check = async (streamed, what) => {
      const { text, args } = await askForCall(body, streamed, CONVERSATION);
      assert.equal(text, expectedContent, `${what}: content`);
      assert.deepEqual(JSON.parse(args), expectedArgs, `${what}: ${args}`);
    };
    answerWithCall(content, written, call);
    await check(false, 'whole');
    // Streamed, the content and the arguments each cut in two at every character.
    for (let cut = 1; cut < written.length; cut++) {
      answerWithCall(content, written, call, cut);
      await check(true, `streamed, cut at ${cut}`);
    }
  });

  it('a token cut at every byte across two events, inside its brackets\' bytes too, is restored; chat and completions', async () => {
    const written = Buffer.from(`Reply to ${token}, é.`);
    // Raw bytes in a JSON string: an event may carry half a character, as byte-level streamers send it.
    const eventOf = (endpoint, bytes) => Buffer.concat([Buffer.from(endpoint === 'chat'
      ? 'data: {"choices":[{"index":0,"delta":{"content":"' : 'data: {"choices":[{"index":0,"text":"'),
    bytes, Buffer.from(`"${endpoint === 'chat' ? '}' : ''},"finish_reason":null}]}\n\n`)]);
    for (const endpoint of ['chat', 'completions']) {
      const end = endpoint === 'chat' ? chatEvent({}, 'stop') : completionEvent('', 'stop');
      for (let cut = 1; cut < written.length; cut++) {
        answerWith([eventOf(endpoint, written.subarray(0, cut)), eventOf(endpoint, written.subarray(cut)), end, 'data: [DONE]\n\n']);
        const { text, raw } = await ask(endpoint, true);
        assert.equal(text, `Reply to ${EMAIL}, é.`, `${endpoint}, cut at byte ${cut}: ${raw}`);
        assert.ok(!raw.includes('\uFFFD'), `${endpoint}, cut at byte ${cut}: ${raw}`);
      }
    }
  });

  it('a card number the model writes as the name of a token it invents is redacted, in content and arguments, whole and streamed at every cut, as policy test says', async () => {
    // A model that has seen the conversation's tokens imitates their form; only tokens the vault
    // restores are stepped over by the scan, so the card inside the invented one is found.
    const invented = '⟦CARD_4111111111111111⟧';
    const content = `Card ${invented} for ${token}.`;
    const expectedContent = `Card ⟦CARD_[REDACTED:credit_card]⟧ for ${EMAIL}.`;
    const written = `{"card":"\\u27e6CARD_4111111111111111\\u27e7","raw":"${invented}","to":"${token}"}`;
    const expectedArgs = `{"card":"\\u27e6CARD_[REDACTED:credit_card]\\u27e7","raw":"⟦CARD_[REDACTED:credit_card]⟧","to":"${EMAIL}"}`;
    const call = (args, first) => toolCall(args, first, 'pay');
    const body = { model: 'm', messages: [{ role: 'user', content: 'Pay.' }] };
    answerWithCall(content, written, call);
    assert.deepEqual(await askForCall(body, false, CONVERSATION), { text: expectedContent, args: expectedArgs }, 'whole');
    for (let cut = 1; cut < written.length; cut++) {
      answerWithCall(content, written, call, cut);
      assert.deepEqual(await askForCall(body, true, CONVERSATION), { text: expectedContent, args: expectedArgs }, `cut at ${cut}`);
    }
    // Without the conversation's token, what the officer's test expects is what the client got.
    const alone = `Card ${invented}.`;
    answerText('chat', [alone], false);
    const got = (await ask('chat', false)).text;
    assert.equal(got, 'Card ⟦CARD_[REDACTED:credit_card]⟧.');
    const tests = path.join(dir, 'invented.tests.yaml');
    fs.writeFileSync(tests, `policy: policy.yaml
cases:
  - name: a card inside an invented token is removed
    answer: {tenant: rewriting, text: ${JSON.stringify(alone)}, chunk_chars: 3}
    expect: {text: ${JSON.stringify(got)}, redacted: [credit_card]}
`);
    const tested = await runCli(['policy', 'test', tests]);
    assert.equal(tested.code, 0, tested.output);
  });

  it('a backend that writes finish_reason "" in every event (Ollama, SGLang) loses no text, and a card split across its events is redacted', async () => {
    const text = `Card 4111 1111 1111 1111 for ${token}, order 123456`;
    const ollamaEvent = (content, finish) => event({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm',
      choices: [{ index: 0, delta: { role: 'assistant', content }, finish_reason: finish }] });
    for (const size of [3, 7, 16]) {
      const pieces = [];
      for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
      answerWith([...pieces.map((p) => ollamaEvent(p, '')), ollamaEvent('', 'stop'), 'data: [DONE]\n\n']);
      const { text: got, raw } = await ask('chat', true);
      assert.equal(got, `Card [REDACTED:credit_card] for ${EMAIL}, order 123456`, `pieces of ${size}: ${raw}`);
    }
  });

  it('a token of a request without a conversation is not restored in a conversation named like that request', async () => {
    // The first request names no conversation: its scope is itself, while its answer streams.
    const slow = [chatEvent({ role: 'assistant', content: '' }), ...Array.from({ length: 400 }, () => ': waiting\n\n'),
      chatEvent({}, 'stop'), 'data: [DONE]\n\n'];
    answerWith(slow);
    const before = await upstream.settledRequestCount();  // every earlier request reported: ours is the next
    let started;
    const streaming = new Promise((resolve) => { started = resolve; });
    const first = readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
      body: { model: 'm', messages: [{ role: 'user', content: 'Mail bob@example.org.' }], stream: true },
      onEvent: () => started() });
    await streaming;  // the upstream has read its answer: the next one may be written
    await upstream.waitForRequests(before + 1);  // its report comes through a pipe, maybe after the event
    const received = upstream.requests()[before];
    const theirs = received.body.match(/⟦EMAIL_[0-9a-f]+⟧/)?.[0];
    assert.ok(theirs, received.body);
    // Another request of the tenant names its request id as a conversation and gets that token back.
    answerText('chat', [`Who is ${theirs}?`], false);
    const { text } = await ask('chat', false, { 'X-Conversation-Id': received.headers['x-request-id'] });
    assert.equal(text, `Who is ${theirs}?`, 'the request\'s value was restored in a conversation');
    const done = await first;
    assert.equal(done.events.at(-1)?.data, '[DONE]', 'the first request was still running');
  });

  it('a card and an SSN the model writes with \\u escapes, in tool-call arguments and in content, are redacted, whole and streamed at every cut', async () => {
    // As a model writes a tool call's arguments (JSON text) with an encoder that escapes characters,
    // and a code sample in prose: the values are on the wire escaped twice.
    const written = '{"card":"4111\\u00201111\\u00201111\\u00201111","ssn":"\\u0035\\u0033\\u0036-22-1234","n":"a\\\\u0035"}';
    const expectedArgs = { card: '[REDACTED:credit_card]', ssn: '[REDACTED:us_ssn]', n: 'a\\u0035' };
    const content = 'Try print("\\u0034\\u0031\\u0031\\u0031 1111 1111 1111") now.';
    const expectedContent = 'Try print("[REDACTED:credit_card]") now.';
    const call = (args, first) => toolCall(args, first, 'pay');
    const body = { model: 'm', messages: [{ role: 'user', content: 'Pay.' }] };
    const check = async (streamed, what) => {
      const { text, args } = await askForCall(body, streamed, {});
      assert.equal(text, expectedContent, `${what}: content`);
      assert.deepEqual(JSON.parse(args), expectedArgs, `${what}: ${args}`);
      assert.ok(!args.includes('u0020') && !args.includes('u0033'), `${what}: ${args}`);
    };
    answerWithCall(content, written, call);
    await check(false, 'whole');
    // Streamed, the arguments and the content each cut in two at every character: inside each
    // escape too, its backslash in one event and the rest in the next.
    for (let cut = 1; cut < written.length; cut++) {
      answerWithCall(content, written, call, cut);
      await check(true, `streamed, cut at ${cut}`);
    }
  });

  it('policy test and explain read a tool call\'s arguments as the gateway does: a case expecting what the client got passes', async () => {
    // A JSON body the model passes to a tool, a card in it written with an escape of the body's own:
    // in the arguments that escape is escaped again, and only the gateway's reading spells the card.
    const written = JSON.stringify({ body: '{"card":"\\u0034111 1111 1111 1111"}' });
    answerWithCall('Paying.', written, (args, first) => toolCall(args, first, 'post'));
    const { args } = await askForCall({ model: 'm', messages: [{ role: 'user', content: 'Pay.' }] }, false, {});
    assert.equal(args, JSON.stringify({ body: '{"card":"[REDACTED:credit_card]"}' }));

    // The officer's test file, in the gateway's policy directory; YAML's double-quoted strings read as JSON's.
    const tests = path.join(dir, 'arguments.tests.yaml');
    fs.writeFileSync(tests, `policy: policy.yaml
cases:
  - name: the card in a tool call's JSON body is removed
    answer: {tenant: rewriting, arguments: ${JSON.stringify(written)}}
    expect: {text: ${JSON.stringify(args)}, detectors: [credit_card], redacted: [credit_card]}
  - name: streamed three bytes at a time
    answer: {tenant: rewriting, arguments: ${JSON.stringify(written)}, chunk_chars: 3}
    expect: {text: ${JSON.stringify(args)}}
`);
    const tested = await runCli(['policy', 'test', tests]);
    assert.equal(tested.code, 0, tested.output);
    assert.match(tested.stdout, /^2 passed, 0 failed$/m, tested.output);

    const argsFile = path.join(dir, 'arguments.json');
    fs.writeFileSync(argsFile, written);
    const explained = await runCli(['policy', 'explain', '--policy', path.join(dir, 'policy.yaml'), '--arguments', argsFile,
      '--tenant', 'rewriting']);
    assert.equal(explained.code, 0, explained.output);
    assert.ok(explained.stdout.includes(`  - credit_card, bytes 21-46: removed (responses: redact)\n`), explained.output);
    assert.ok(explained.stdout.endsWith(`The client gets:\n${args}\n`), explained.output);
  });

  it('the arguments of a deprecated function_call are checked too: a card redacted, a token restored, streamed and whole', async () => {
    const written = JSON.stringify({ to: token, card: '4111 1111 1111 1111' });
    const expected = { to: EMAIL, card: '[REDACTED:credit_card]' };
    const body = { model: 'm', messages: [{ role: 'user', content: 'Pay.' }],
      functions: [{ name: 'pay', parameters: { type: 'object', properties: {} } }] };
    for (const streamed of [true, false]) {
      let args = '';
      if (streamed) {
        answerWith([chatEvent({ role: 'assistant', content: null, function_call: { name: 'pay', arguments: '' } }),
          ...[written.slice(0, 15), written.slice(15, 40), written.slice(40)].map((p) => chatEvent({ function_call: { arguments: p } })),
          chatEvent({}, 'function_call'), 'data: [DONE]\n\n']);
        const sse = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { ...bearer(KEY), ...CONVERSATION },
          body: { ...body, stream: true } });
        assert.equal(sse.events.at(-1)?.data, '[DONE]', JSON.stringify(sse.events));
        for (const e of sse.events.slice(0, -1)) args += JSON.parse(e.data).choices[0].delta.function_call?.arguments ?? '';
      } else {
        answerWith([JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
          message: { role: 'assistant', content: null, function_call: { name: 'pay', arguments: written } }, finish_reason: 'function_call' }] })],
        'application/json');
        const answer = await gw.chat(KEY, body, { headers: CONVERSATION });
        assert.equal(answer.status, 200, answer.text);
        args = answer.json.choices[0].message.function_call.arguments;
      }
      assert.deepEqual(JSON.parse(args), expected, `streamed: ${streamed}: ${args}`);
    }
  });

  it('text in a shape the gateway cannot read (content as parts, arguments as an object) is withheld, whole and streamed', async () => {
    const card = '4111 1111 1111 1111';
    const shapes = [
      [{ role: 'assistant', content: [{ type: 'text', text: `card ${card}` }] }, 'content is an array, not text'],
      [{ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: { card } } }] },
        'tool_calls[0].function.arguments is an object, not text'],
    ];
    for (const [message, why] of shapes) {
      answerWith([JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message, finish_reason: 'stop' }] })],
        'application/json');
      const whole = await gw.chat(KEY, { model: 'm', messages: [{ role: 'user', content: 'Go on.' }] });
      assertError(whole, { status: 502, code: 'response_check_failed' }, why);
      assert.ok(whole.json.error.message.includes(`choice 0's message.${why}`), whole.json.error.message);
      answerWith([chatEvent(message), chatEvent({}, 'stop'), 'data: [DONE]\n\n']);
      const sse = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
        body: { model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true } });
      const raw = sse.events.map((e) => e.data).join('\n');
      assert.ok(!raw.includes('4111'), raw);
      assert.equal(JSON.parse(sse.events.at(-1).data).error?.code, 'response_check_failed', raw);
      assert.ok(raw.includes(`choice 0's delta.${why}`), raw);
    }
  });

  it('a context word after a restored token counts as after the value written out: the SSN before it is redacted, whole and streamed at every cut', async () => {
    // A bare SSN is one only next to its context word. The client reads the token's value, so the
    // scan does too: written out by the model or restored from a token, the answer reads the same.
    const account = 'CORP\\jdoe';
    answerText('chat', ['Noted.'], false);
    const before = await upstream.settledRequestCount();  // every earlier request reported: ours is the next
    const res = await gw.chat(KEY, { model: 'm', messages: [{ role: 'user', content: `Account ${account}.` }] }, { headers: CONVERSATION });
    assert.equal(res.status, 200, res.text);
    await upstream.waitForRequests(before + 1);
    const seen = upstream.requests()[before].body;
    const accountToken = seen.match(/⟦WINDOWS_ACCOUNT_[0-9a-f]+⟧/)?.[0];
    assert.ok(accountToken && !seen.includes('jdoe'), seen);
    const expected = `[REDACTED:us_ssn] is ${account}'s SSN.`;
    for (const written of [`536221234 is ${account}'s SSN.`, `536221234 is ${accountToken}'s SSN.`]) {
      for (const endpoint of ['chat', 'completions']) {
        answerText(endpoint, [written], false);
        assert.equal((await ask(endpoint, false)).text, expected, `${endpoint}, whole: ${written}`);
        for (let cut = 1; cut < written.length; cut++) {
          answerText(endpoint, [written.slice(0, cut), written.slice(cut)], true);
          const { text, raw } = await ask(endpoint, true);
          assert.equal(text, expected, `${endpoint}, cut at ${cut} of ${written}: ${raw}`);
        }
      }
    }
  });

  it('the text token by token outside a choice\'s logprobs (llama.cpp\'s completion_probabilities) is withheld too, whole and streamed; n_probs is refused', async () => {
    const tokens = ['Card', ' 4', '111', ' 1111', ' 1111', ' 1111'];
    const probabilities = (pieces) => pieces.map((t) => ({ content: t, probs: [{ tok_str: t, prob: 0.9 }] }));
    answerWith([JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
      message: { role: 'assistant', content: tokens.join('') }, finish_reason: 'stop' }],
    completion_probabilities: probabilities(tokens), x_debug: { logprobs: tokens } })], 'application/json');
    const whole = await gw.chat(KEY, { model: 'm', messages: [{ role: 'user', content: 'Go on.' }] });
    assert.equal(whole.status, 200, whole.text);
    assert.equal(whole.json.choices[0].message.content, 'Card [REDACTED:credit_card]');
    assert.equal(whole.json.completion_probabilities, null, whole.text);
    assert.equal(whole.json.x_debug.logprobs, null, whole.text);
    answerWith([...tokens.map((t) => event({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm',
      choices: [{ index: 0, delta: { content: t }, finish_reason: null }], completion_probabilities: probabilities([t]) })),
    chatEvent({}, 'stop'), 'data: [DONE]\n\n']);
    const sse = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearer(KEY),
      body: { model: 'm', messages: [{ role: 'user', content: 'Go on.' }], stream: true } });
    const raw = sse.events.map((e) => e.data).join('\n');
    assert.ok(!raw.includes('111'), raw);
    assert.equal(sse.events.at(-1).data, '[DONE]', raw);
    for (const e of sse.events.slice(0, -1)) assert.equal(JSON.parse(e.data).completion_probabilities ?? null, null, e.data);
    for (const [urlPath, body] of [['/v1/chat/completions', { messages: [{ role: 'user', content: 'Go on.' }] }],
      ['/v1/completions', { prompt: 'Go on.' }]]) {
      const before = await upstream.settledRequestCount();  // every earlier request reported: ours is the next
      const refused = await gw.api({ key: KEY, method: 'POST', path: urlPath, body: { model: 'm', n_probs: 3, ...body } });
      assertError(refused, { status: 400, code: 'invalid_request' }, `${urlPath} with n_probs`);
      assert.equal(refused.json.error.param, 'n_probs');
      assert.equal(upstream.requests().length, before, 'the refused request reached the upstream');
    }
  });
});
