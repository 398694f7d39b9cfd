// What the policy sees of each shape of input, through the official openai client and raw bodies:
// content a detector cannot read (an image, audio, a file) is refused under a policy rather than
// forwarded unscanned; a number is scanned like the digits it writes; a body the gateway would misread
// (compressed, or in another charset) is refused with 415 naming the header. Each refusal is proved
// by the upstream receiving nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { Gateway, openaiBackend, tenant, tempDir } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { sitePolicy, redactRule } from './lib/policies.mjs';

const KEY = 'sk-input-shapes';
const CARD = '4111 1111 1111 1111';

const POLICY = sitePolicy({ name: 'input-shapes-itest', classes: ['public', 'internal', 'confidential'],
  defaultClearance: 'internal', tenants: [{ name: 'shapes', clearance: 'confidential' }],
  rules: redactRule('redact-cards', ['credit_card']), onSiteTenant: 'shapes' });

// A PNG whose text chunk holds a card number: bytes no detector reads as text.
function pngWithText(text) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, Buffer.from(type), data, Buffer.alloc(4)]);
  };
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('tEXt', Buffer.from(`Comment\0${text}`)), chunk('IEND', Buffer.alloc(0))]).toString('base64');
}

describe('what the policy sees of each input shape', () => {
  let dir;
  let upstream;
  let gw;
  let client;

  before(async () => {
    dir = tempDir('sovereign-input-shapes-');
    fs.writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
    upstream = await Upstream.start({ name: 'shapes-upstream', echo: true });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'shapes', keys: [KEY], models: ['vision-model'] })],
      backends: [openaiBackend({ name: 'shapes-be', models: ['vision-model'], upstreams: [upstream] })],
      policy: path.join(dir, 'policy.yaml'),
    });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.apiPort}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20000 });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function assertNothingReachesUpstream(send) {
    const before = await upstream.settledRequestCount();
    const result = await send();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(upstream.requests().length, before, `the upstream received ${JSON.stringify(upstream.requests().slice(before))}`);
    return result;
  }

  // What the upstream received for a request the gateway forwarded (the echo upstream sends it back).
  async function forwarded(body) {
    const before = await upstream.settledRequestCount();
    const completion = await client.chat.completions.create(body);
    // The upstream's report of it comes through a pipe, maybe after the answer: wait for it, so that
    // a later count of what reached the upstream does not take it for a request forwarded since.
    await upstream.waitForRequests(before + 1);
    return JSON.parse(completion.echo.body);
  }

  it('an image, audio or file part is refused under a policy, naming the part: no detector can read it', async () => {
    const parts = [
      { type: 'image_url', image_url: { url: `data:image/png;base64,${pngWithText(`card ${CARD}`)}` } },
      { type: 'image_url', image_url: { url: 'https://intranet.example/scans/card.png' } },
      { type: 'input_audio', input_audio: { data: Buffer.from(`card ${CARD}`).toString('base64'), format: 'wav' } },
      { type: 'file', file: { file_id: 'file-abc123' } },
      { type: 'file', file: { filename: 'statement.pdf', file_data: `data:application/pdf;base64,${zlib.deflateSync(`card ${CARD}`).toString('base64')}` } },
    ];
    for (const part of parts) {
      const error = await assertNothingReachesUpstream(() => client.chat.completions.create({
        model: 'vision-model',
        messages: [{ role: 'system', content: 'Describe.' }, { role: 'user', content: [{ type: 'text', text: 'What is this?' }, part] }],
      }).then(() => null, (e) => e));
      assert.ok(error instanceof OpenAI.BadRequestError, `${part.type}: ${error}`);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.param, 'messages[1].content[1]');
      assert.match(error.message, new RegExp(`'messages\\[1\\]\\.content\\[1\\]' is a content part of type '${part.type}', whose data .* no detector can read; send the prompt as text`));
    }
  });

  it('text in every part type is read and redacted, and the request goes on', async () => {
    const body = await forwarded({
      model: 'vision-model',
      messages: [
        { role: 'user', content: [{ type: 'text', text: `card ${CARD}` }, { type: 'input_text', text: `also ${CARD}` }] },
        { role: 'assistant', content: [{ type: 'refusal', refusal: `not ${CARD}` }] },
        { role: 'user', content: 'thanks' },
      ],
    });
    assert.equal(body.messages[0].content[0].text, 'card [REDACTED:credit_card]');
    assert.equal(body.messages[0].content[1].text, 'also [REDACTED:credit_card]');
    assert.equal(body.messages[1].content[0].refusal, 'not [REDACTED:credit_card]');
  });

  it('text parts are scanned each as its own text: no value across parts but one split on purpose', async () => {
    const parts = (...texts) => ({ model: 'vision-model', messages: [{ role: 'user', content: texts.map((text) => ({ type: 'text', text })) }] });
    // A card whole in one part and digits at the start of the next: the next part keeps its digits.
    let body = await forwarded(parts(`card ${CARD}`, '1111 is the PIN'));
    assert.deepEqual(body.messages[0].content.map((p) => p.text), ['card [REDACTED:credit_card]', '1111 is the PIN']);
    // Numbers that merely meet where one part ends and the next begins are no value.
    body = await forwarded(parts('We ordered 4111', '1111 boxes'));
    assert.deepEqual(body.messages[0].content.map((p) => p.text), ['We ordered 4111', '1111 boxes']);
    // A card split across two parts on purpose: each piece redacted in its own part.
    body = await forwarded(parts('card 4111 1111', ' 1111 1111 thanks'));
    assert.deepEqual(body.messages[0].content.map((p) => p.text), ['card [REDACTED:credit_card]', ' [REDACTED:credit_card] thanks']);
    // Groups that HTML tags separate, in a part of rich text.
    body = await forwarded(parts('<p>card 4111 <b>1111</b> 1111 1111</p>', '<td>4111</td><td>1111</td><td>1111</td><td>1111</td>'));
    assert.deepEqual(body.messages[0].content.map((p) => p.text),
      ['<p>card [REDACTED:credit_card]</p>', '<td>[REDACTED:credit_card]</td>']);
  });

  it('a card written as a JSON number is redacted like its digits, and goes on as a string', async () => {
    const body = await forwarded({
      model: 'vision-model',
      messages: [{ role: 'user', content: 'Summarise the account.' }],
      seed: 42,
      chat_template_kwargs: { card: 4111111111111111, pages: [3, 4] },
    });
    assert.deepEqual(body.chat_template_kwargs, { card: '[REDACTED:credit_card]', pages: [3, 4] });
    assert.equal(body.seed, 42);
  });

  it('a compressed body is refused with 415 naming Content-Encoding; identity is read', async () => {
    const json = JSON.stringify({ model: 'vision-model', messages: [{ role: 'user', content: 'hi' }] });
    const gzip = await assertNothingReachesUpstream(() => gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: zlib.gzipSync(json) }));
    assertError(gzip, { status: 415, code: 'unsupported_media_type' }, 'gzip body');
    assert.match(gzip.json.error.message, /'Content-Encoding: gzip'.*send the JSON uncompressed/);
    const identity = await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json; charset=UTF-8', 'content-encoding': 'identity' }, body: json });
    assert.equal(identity.status, 200, identity.text);
  });

  it('a body in a charset other than UTF-8 is refused with 415 naming the charset', async () => {
    const json = JSON.stringify({ model: 'vision-model', messages: [{ role: 'user', content: 'hi' }] });
    const res = await assertNothingReachesUpstream(() => gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json; charset=utf-16' }, body: Buffer.from(json, 'utf16le') }));
    assertError(res, { status: 415, code: 'unsupported_media_type' }, 'UTF-16 body');
    assert.match(res.json.error.message, /'charset=utf-16'/);
  });
});
