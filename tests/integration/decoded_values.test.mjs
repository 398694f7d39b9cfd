// Values the detectors read only once their escapes are resolved, through the official openai
// client: look-alike characters written with escapes (a no-break space as "\u00a0" or "%C2%A0", a
// fullwidth digit as "&#xFF14;") are folded as the raw characters are, in requests (denied,
// tokenized and restored) and in answers (redacted); and a model's tool-call arguments holding a value
// escaped twice (JSON text in a string of the arguments) are read as deep as a request's are.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { openaiBackend, tenant, stopAndRemove } from './lib/gateway.mjs';
import { writeAnswer, writeAnswerWithCall, startScriptedUpstream, toolCall } from './lib/scripted_answers.mjs';
import { evidenceDir, startWithEvidence } from './lib/evidence.mjs';
import { sitePolicy, tokenizeRule } from './lib/policies.mjs';

const KEY = 'sk-decoded';
const CONVERSATION = { 'X-Conversation-Id': 'conv-decoded' };

// The policy's rule refusing requests that hold a social security number.
const NO_SSN = `  - name: no-ssn
    when:
      detected: [us_ssn]
    then:
      action: deny
      message: "Social security numbers stay on site."
`;

const POLICY = sitePolicy({ name: 'decoded-values-itest', classes: ['public', 'internal', 'confidential'],
  defaultClearance: 'public', zoneDescription: 'the scripted upstream', tenants: [{ name: 'decoded', clearance: 'confidential' }],
  redactInAnswers: ['credit_card', 'us_ssn'], rules: NO_SSN + tokenizeRule('tokenize-cards', ['credit_card']) });

describe('values read through escapes and look-alikes, alike in requests and answers', { timeout: 120000 }, () => {
  let dir;
  let upstream;
  let gw;
  let client;

  // Asks for a chat answer through the openai client, streamed or not: its content and its tool
  // call's arguments as the client reads them.
  async function ask(messages, streamed, headers = {}) {
    const body = { model: 'm', messages };
    if (!streamed) {
      const completion = await client.chat.completions.create(body, { headers });
      const message = completion.choices[0].message;
      return { text: message.content ?? '', args: message.tool_calls?.[0]?.function?.arguments ?? '' };
    }
    const stream = await client.chat.completions.create({ ...body, stream: true }, { headers });
    let text = '';
    let args = '';
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        text += choice.delta?.content ?? '';
        args += choice.delta?.tool_calls?.[0]?.function?.arguments ?? '';
      }
    }
    return { text, args };
  }

  // The request is refused with 403 by rule no-ssn, and nothing of it reaches the backend.
  async function assertDenied(messages, what) {
    const before = await upstream.settledRequestCount();
    for (const stream of [false, true]) {
      await assert.rejects(client.chat.completions.create({ model: 'm', messages, stream }), (err) => {
        assert.ok(err instanceof OpenAI.PermissionDeniedError, `${what}, stream: ${stream}: ${err}`);
        assert.equal(err.code, 'denied_by_policy', what);
        assert.match(err.message, /Social security numbers stay on site/, what);
        return true;
      }, `${what}, stream: ${stream}: not denied`);
    }
    assert.equal(upstream.requests().length, before, `${what}: a denied request reached the backend`);
  }

  before(async () => {
    let keys;
    ({ dir, keys } = await evidenceDir('sovereign-decoded-itest-'));
    upstream = await startScriptedUpstream(dir);
    gw = await startWithEvidence(dir, keys, POLICY, {
      tenants: [tenant({ name: 'decoded', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'scripted', models: ['m'], upstreams: [upstream] })],
    });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.apiPort}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20000 });
  });

  after(async () => {
    await stopAndRemove(dir, gw, upstream);
  });

  it('an SSN escaped twice in tool-call arguments, or in fullwidth digits written raw or with JSON, URL or HTML escapes, is denied', async () => {
    // A tool call's arguments holding JSON text in a string: the value escaped twice (the answer
    // below writes the same arguments).
    const call = (args) => [{ role: 'user', content: 'File it.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'file', arguments: args } }] },
      { role: 'tool', tool_call_id: 'call_0', content: 'filed' }];
    await assertDenied(call(JSON.stringify({ note: '{"ssn":"\\u0035\\u0033\\u0036-22-1234"}', n: 1 })), 'escaped twice');
    const user = (content) => [{ role: 'user', content }];
    await assertDenied(user('Her SSN: ５３６-22-1234.'), 'raw');
    await assertDenied(user('Her SSN: \\uff15\\uff13\\uff16-22-1234.'), 'JSON escapes');
    await assertDenied(user('GET /find?ssn=%EF%BC%95%EF%BC%93%EF%BC%96-22-1234 HTTP/1.1'), 'percent-escapes');
    await assertDenied(user('<td>SSN &#xFF15;&#xFF13;&#xFF16;&#x2011;22&#x2011;1234</td>'), 'HTML references');
    await assertDenied(call(JSON.stringify({ note: '{"ssn":"\\uff15\\uff13\\uff16-22-1234"}' })), 'fullwidth, escaped twice');
  });

  it('a card written with escaped no-break spaces or a fullwidth digit is tokenized and restored as written, streamed and whole', async () => {
    for (const card of ['4111%C2%A01111%C2%A01111%C2%A01111', '&#xFF14;111 1111 1111 1111', '4111\\u00a01111\\u00a01111\\u00a01111']) {
      writeAnswer(dir, [JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
        message: { role: 'assistant', content: 'noted' }, finish_reason: 'stop' }] })], 'application/json');
      const before = await upstream.settledRequestCount();
      await ask([{ role: 'user', content: `Charge card ${card} today.` }], false, CONVERSATION);
      await upstream.waitForRequests(before + 1);
      const forwarded = upstream.requests().at(-1).body;
      const cardToken = forwarded.match(/⟦CREDIT_CARD_[0-9a-f]+⟧/)?.[0];
      assert.ok(cardToken, `${card}: not tokenized: ${forwarded}`);
      assert.ok(!forwarded.includes('4111') && !forwarded.includes('FF14'), forwarded);
      // The model writes the token back, in content and in a tool call's arguments.
      const written = JSON.stringify({ card: cardToken });
      for (const streamed of [false, true]) {
        writeAnswerWithCall(dir, `Charged ${cardToken}.`, written, (args, first) => toolCall(args, first, 'charge'), streamed ? 9 : null);
        const { text, args } = await ask([{ role: 'user', content: 'Charge it.' }], streamed, CONVERSATION);
        assert.equal(text, `Charged ${card}.`, `${card}, streamed: ${streamed}`);
        assert.deepEqual(JSON.parse(args), { card }, `${card}, streamed: ${streamed}: ${args}`);
      }
    }
  });

  // The content and one tool call's arguments as the model writes them are read by the client as
  // expected, whole and streamed with both cut in two at every character (inside each escape too).
  async function assertRedactedAtEveryCut(content, written, expectedContent, expectedArgs) {
    const call = (args, first) => toolCall(args, first, 'file');
    const check = async (streamed, what) => {
      const { text, args } = await ask([{ role: 'user', content: 'File it.' }], streamed);
      assert.equal(text, expectedContent, `${what}: content`);
      assert.deepEqual(JSON.parse(args), expectedArgs, `${what}: ${args}`);
    };
    writeAnswerWithCall(dir, content, written, call);
    await check(false, 'whole');
    for (let cut = 1; cut < written.length; cut++) {
      writeAnswerWithCall(dir, content, written, call, cut);
      await check(true, `streamed, cut at ${cut}`);
    }
  }

  it('control characters between the digits (NUL, ESC, DEL, US) hide no value: an SSN denied, a card tokenized, a card in an answer redacted', async () => {
    // JSON writes them as \u0000...: models pass over them, so the values are the model's to read.
    await assertDenied([{ role: 'user', content: 'SSN 536\u0000-22\u001b-\u007f1234' }], 'an SSN with control characters');
    const card = '4111\u00001111\u00001111\u00001111';
    const before = await upstream.settledRequestCount();
    writeAnswer(dir, [JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
      message: { role: 'assistant', content: 'Card 5555\u001f5555\u001f5555\u001f4444 noted.' }, finish_reason: 'stop' }] })],
    'application/json');
    const { text } = await ask([{ role: 'user', content: `Card ${card}.` }], false);
    assert.equal(text, 'Card [REDACTED:credit_card] noted.');
    await upstream.waitForRequests(before + 1);
    const sent = upstream.requests().at(-1).body;
    assert.ok(!sent.includes('4111') && /⟦CREDIT_CARD_[0-9a-f]+⟧/.test(sent), sent);
  });

  it('values the model writes with escapes for look-alike characters are redacted, whole and at every cut', async () => {
    // Content: a code sample with no-break spaces written as JSON escapes. Arguments: a card with a
    // fullwidth digit as an HTML reference, and one with no-break spaces in JSON text inside a string.
    await assertRedactedAtEveryCut('Use print("4111\\u00a01111\\u00a01111\\u00a01111") there.',
      JSON.stringify({ html: '<td>&#xFF14;111 1111 1111 1111</td>', inner: '{"card":"4111\\u00a01111\\u00a01111\\u00a01111"}' }),
      'Use print("[REDACTED:credit_card]") there.',
      { html: '<td>[REDACTED:credit_card]</td>', inner: '{"card":"[REDACTED:credit_card]"}' });
  });

  it('an SSN escaped twice in a tool call\'s arguments (JSON text in a string) is redacted as a request\'s is denied', async () => {
    // The arguments of the request denied above, as the model's answer.
    await assertRedactedAtEveryCut('Filed.', JSON.stringify({ note: '{"ssn":"\\u0035\\u0033\\u0036-22-1234"}', n: 1 }),
      'Filed.', { note: '{"ssn":"[REDACTED:us_ssn]"}', n: 1 });
  });

  it('a value escaped three times over is text on both sides: allowed in a request, left as written in an answer', async () => {
    // The value's \u escapes, in JSON text inside a string of the arguments, escaped once more.
    const thrice = JSON.stringify({ note: JSON.stringify({ ssn: '\\u0035\\u0033\\u0036-22-1234' }) });
    const messages = [{ role: 'user', content: 'File it.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'file', arguments: thrice } }] },
      { role: 'tool', tool_call_id: 'call_0', content: 'filed' }];
    for (const streamed of [false, true]) {
      writeAnswerWithCall(dir, 'Filed.', thrice, (args, first) => toolCall(args, first, 'file'), streamed ? 20 : null);
      const { text, args } = await ask(messages, streamed);
      assert.equal(text, 'Filed.');
      assert.equal(args, thrice, `streamed: ${streamed}`);
    }
  });
});
