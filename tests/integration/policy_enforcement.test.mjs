// The policy in front of real upstreams: what the upstream receives (redacted values, vault tokens,
// nothing at all for denied requests), what the client gets back (tokens restored, cards the model
// wrote removed, also when split across streamed chunks), zones, clearances and a refused reload.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, bearer, sha256Hex } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { readSse } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { initKeys, evidenceSections, auditQuery, assertAuditValid, recordsOf } from './lib/evidence.mjs';

const ALPHA = 'sk-policy-alpha';
const BETA = 'sk-policy-beta';
const CARD = '4111 1111 1111 1111';
const EMAIL = 'alice.smith@example.com';
const TOKEN = /⟦EMAIL_[0-9a-f]{6,16}⟧/;

const POLICY = `name: enforcement-itest
version: 1
classes: [public, internal, confidential, restricted]
default_clearance: public

zones:
  - name: site
    description: the echo and card upstreams
  - name: vault-room
    description: its only backend serves another model

detectors:
  - name: project_codenames
    class: internal
    keywords: [Nightjar]

tenants:
  - name: alpha
    clearance: confidential
  - name: beta
    clearance: internal

responses:
  redact: [credit_card]

rules:
  - name: no-credentials
    when:
      detected: [aws_access_key, private_key]
    then:
      action: deny
      message: "Credentials never leave this building."

  - name: redact-cards
    when:
      detected: [credit_card]
    then:
      redact: [credit_card]

  - name: tokenize-emails
    when:
      detected: [email]
    then:
      tokenize: [email]

  - name: codenames-stay-in-vault-room
    when:
      detected: [project_codenames]
    then:
      zones: [vault-room]

  # Names a backend outside the zone the codename rule allows: it narrows, it never widens.
  - name: echo-model-on-site-echo
    when:
      models: [echo-model]
    then:
      backends: [site-echo]

  - name: tenants-on-site
    when:
      tenants: [alpha, beta]
    then:
      action: allow
      zones: [site, vault-room]
`;

// Would let card numbers through if it were accepted: the redact rule is gone and a key is misspelt.
const BROKEN_POLICY = POLICY
  .replace(/  - name: redact-cards\n[\s\S]*?\n\n/, '')
  .replace('      action: allow\n      zones: [site, vault-room]', '      actoin: allow\n      zones: [site, vault-room]');

function chatBody(model, content, extra = {}) {
  return { model, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }], ...extra };
}

// The concatenated delta content of a streamed chat answer, and its events.
async function streamChat(gw, key, body, headers = {}) {
  const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { ...bearer(key), ...headers },
    body: { ...body, stream: true } });
  assert.equal(res.status, 200, JSON.stringify(res));
  assert.equal(res.brokenBy, null, `stream broken: ${JSON.stringify(res)}`);
  assert.equal(res.events.at(-1)?.data, '[DONE]', JSON.stringify(res.events));
  const chunks = res.events.slice(0, -1).map((e) => JSON.parse(e.data));
  const deltas = chunks.map((c) => c.choices?.[0]?.delta?.content ?? '');
  return { text: deltas.join(''), deltas, chunks, res };
}

describe('policy enforcement', { timeout: 120000 }, () => {
  let dir;
  let echo;
  let writer;
  let gw;
  let policyFile;
  let keys;
  const ids = {}; // request ids whose audit records the last test reads

  before(async () => {
    dir = tempDir('sovereign-policy-itest-');
    keys = await initKeys(path.join(dir, 'keys'));
    policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);
    echo = await Upstream.start({ name: 'echo', 'echo-last-user': true, 'chunk-chars': 3 });
    writer = await Upstream.start({ name: 'card-writer', reply: `Your card ${CARD} is on file.`, 'chunk-chars': 3 });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'alpha', keys: [ALPHA], models: ['*'] }), tenant({ name: 'beta', keys: [BETA], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'site-echo', zone: 'site', models: ['echo-model'], upstreams: [echo] }),
        openaiBackend({ name: 'site-writer', zone: 'site', models: ['card-model'], upstreams: [writer] }),
        openaiBackend({ name: 'vault-room-be', zone: 'vault-room', models: ['vault-only'], upstreams: [echo] }),
      ],
      policy: policyFile,
      ...evidenceSections(keys, path.join(dir, 'audit')),
    });
  });

  after(async () => {
    await gw?.stop();
    await echo?.stop();
    await writer?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Runs `send`, then proves that the echo upstream received nothing new (its report trails the
  // gateway's answer by a pipe, so give it time to arrive if it were coming).
  async function assertNothingReachesUpstream(send) {
    const before = await echo.settledRequestCount();
    const result = await send();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(echo.requests().length, before, `the upstream received ${JSON.stringify(echo.requests().slice(before))}`);
    return result;
  }

  // Writes the policy file, sends SIGHUP (unless the file watcher is what is tested) and waits until
  // the gateway counts a reload with that result.
  async function reloadPolicy(text, result, what, { signal = true } = {}) {
    const before = (await gw.metrics()).value('sovereign_config_reloads_total', { result });
    fs.writeFileSync(policyFile, text);
    if (signal) gw.process.signal('SIGHUP');
    await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result }) > before, 10000, what);
  }

  async function chatReachingEcho(key, body, headers = {}) {
    const before = await echo.settledRequestCount();
    const res = await gw.chat(key, body, { headers });
    assert.equal(res.status, 200, res.text);
    await echo.waitForRequests(before + 1);
    return { res, received: echo.requests()[before].body };
  }

  it('redact: the upstream receives [REDACTED:credit_card], never the card number', async () => {
    const { res, received } = await chatReachingEcho(ALPHA, chatBody('echo-model', `Charge card ${CARD} for order 7.`));
    ids.redacted = res.headers['x-request-id'];
    assert.ok(received.includes('Charge card [REDACTED:credit_card] for order 7.'), received);
    assert.ok(!received.includes(CARD) && !received.includes(CARD.replace(/ /g, '')), received);
    assert.equal(res.json.choices[0].message.content, 'Charge card [REDACTED:credit_card] for order 7.');
  });

  it('a card number split across two messages is redacted piece by piece', async () => {
    const body = chatBody('echo-model', '1111 1111 is the rest.');
    body.messages.splice(body.messages.length - 1, 0, { role: 'user', content: 'My card is 4111 1111' });
    const { received } = await chatReachingEcho(ALPHA, body);
    const contents = JSON.parse(received).messages.map((m) => m.content);
    assert.deepEqual(contents.slice(-2), ['My card is [REDACTED:credit_card]', '[REDACTED:credit_card] is the rest.']);
    assert.ok(!received.includes('4111') && !received.includes('1111'), received);
  });

  it('a card number wrapped over lines, written one group a line or apart by tabs is redacted before it leaves', async () => {
    const forms = ['4111 1111\n1111 1111', '4111\r\n1111\r\n1111\r\n1111', '4111 1111 \n  1111 1111', '4111\t1111\t1111\t1111'];
    for (const written of forms) {
      const { received } = await chatReachingEcho(ALPHA, chatBody('echo-model', `Charge card\n${written}\nfor order 7.`));
      assert.equal(JSON.parse(received).messages.at(-1).content, 'Charge card\n[REDACTED:credit_card]\nfor order 7.',
        JSON.stringify(written));
    }
    // A table of two cards, one a line, is two cards; the next line's number is not taken into the first.
    const { received } = await chatReachingEcho(ALPHA,
      chatBody('echo-model', `Cards:\n${CARD}\n5555 5555 5555 4444\n2024 orders`));
    assert.equal(JSON.parse(received).messages.at(-1).content,
      'Cards:\n[REDACTED:credit_card]\n[REDACTED:credit_card]\n2024 orders');
  });

  it('a card number hidden in base64 or hex is redacted, the whole encoded run', async () => {
    for (const encoding of ['base64', 'hex']) {
      const encoded = Buffer.from(`card ${CARD}`).toString(encoding);
      const { received } = await chatReachingEcho(ALPHA, chatBody('echo-model', `Please decode ${encoded} for me.`));
      assert.equal(JSON.parse(received).messages.at(-1).content, 'Please decode [REDACTED:credit_card] for me.', encoding);
    }
  });

  it('a card number written with URL or HTML escapes is redacted where it stands, the rest of the link kept', async () => {
    const escaped = encodeURIComponent(CARD);  // 4111%201111%201111%201111
    const { received } = await chatReachingEcho(ALPHA,
      chatBody('echo-model', `Open https://pay.example/charge?card=${escaped}&amount=7 and card ${CARD.replace(/ /g, '&nbsp;')} too.`));
    assert.equal(JSON.parse(received).messages.at(-1).content,
      'Open https://pay.example/charge?card=[REDACTED:credit_card]&amount=7 and card [REDACTED:credit_card] too.');
  });

  it('values written with JSON \\u escapes are found in a prompt and, escaped once more, in tool-call arguments', async () => {
    // A prompt that pastes JSON, and tool-call arguments (JSON text) holding JSON text as a string:
    // the gateway reads the arguments' own escapes, the policy the level below.
    const escapedCard = '\\u0034\\u0031\\u0031\\u0031 1111 1111 1111';
    const pasted = `Check {"card":"${escapedCard}","path":"C:\\\\Users\\\\x"} please.`;
    const body = chatBody('echo-model', pasted);
    const payload = `{"card":"${escapedCard}"}`;
    body.messages.push({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
      function: { name: 'charge', arguments: JSON.stringify({ payload, again: '4111\\u00201111\\u00201111\\u00201111' }) } }] });
    body.messages.push({ role: 'tool', tool_call_id: 'call_1', content: 'charged' });
    const { received } = await chatReachingEcho(ALPHA, body);
    const forwarded = JSON.parse(received);
    assert.equal(forwarded.messages[1].content, 'Check {"card":"[REDACTED:credit_card]","path":"C:\\\\Users\\\\x"} please.');
    const args = JSON.parse(forwarded.messages[2].tool_calls[0].function.arguments);
    assert.equal(args.payload, '{"card":"[REDACTED:credit_card]"}', received);
    assert.equal(args.again, '[REDACTED:credit_card]', received);
    assert.ok(!received.includes('u0034') && !received.includes('u0020'), received);

    // A credential written with escapes is denied like a plain one; nothing reaches the upstream.
    const credential = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'key = "\\u0041KIAIOSFODNN7EXAMPLE"')));
    assertError(credential, { status: 403, code: 'denied_by_policy' }, 'escaped credential in the prompt');
  });

  it('every string of the body is checked, not only the messages: names, tool calls, tools, user, metadata', async () => {
    const body = chatBody('echo-model', 'Look it up.', {
      user: `card ${CARD}`,
      tools: [{ type: 'function', function: { name: 'charge', description: `Charges ${CARD} by default.`,
        parameters: { type: 'object', properties: { amount: { type: 'number' } } } } }],
    });
    body.messages.push({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
      function: { name: 'charge', arguments: JSON.stringify({ card: CARD }) } }] });
    body.messages.push({ role: 'tool', tool_call_id: 'call_1', name: `card ${CARD}`, content: 'charged' });
    const { received } = await chatReachingEcho(ALPHA, body);
    assert.ok(!received.includes(CARD), `the card reached the upstream: ${received}`);
    const forwarded = JSON.parse(received);
    assert.equal(forwarded.user, 'card [REDACTED:credit_card]');
    assert.equal(forwarded.tools[0].function.description, 'Charges [REDACTED:credit_card] by default.');
    assert.equal(JSON.parse(forwarded.messages[2].tool_calls[0].function.arguments).card, '[REDACTED:credit_card]');
    assert.equal(forwarded.messages[3].name, 'card [REDACTED:credit_card]');

    // A credential in a metadata key is denied like one in the prompt; a card in a key cannot be
    // redacted there, so the request is refused rather than forwarded.
    const credential = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'hello', { metadata: { AKIAIOSFODNN7EXAMPLE: 'x' } })));
    assertError(credential, { status: 403, code: 'denied_by_policy' }, 'credential in a metadata key');
    const cardKey = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'hello', { metadata: { [CARD]: 'x' } })));
    assertError(cardKey, { status: 400, code: 'invalid_request' }, 'card in a metadata key');
    assert.match(cardKey.json.error.message, /object key \(metadata\.4111 1111 1111 1111 \(key\)\)/);
  });

  it('token ids, which no detector can read, are refused under a policy', async () => {
    const res = await assertNothingReachesUpstream(() =>
      gw.api({ key: ALPHA, method: 'POST', path: '/v1/completions', body: { model: 'echo-model', prompt: [19, 4111, 1111] } }));
    assertError(res, { status: 400, code: 'invalid_request' }, 'token-id prompt');
    assert.equal(res.json.error.param, 'prompt');
  });

  it('tokenize: the upstream receives a vault token and the client gets the value back', async () => {
    const prompt = `Write to ${EMAIL} about the invoice.`;
    const { res, received } = await chatReachingEcho(ALPHA, chatBody('echo-model', prompt));
    ids.tokenized = res.headers['x-request-id'];
    assert.ok(!received.includes(EMAIL), `the upstream saw the e-mail address: ${received}`);
    const sent = JSON.parse(received).messages.at(-1).content;
    assert.match(sent, new RegExp(`^Write to ${TOKEN.source} about the invoice\\.$`), sent);
    assert.equal(res.json.choices[0].message.content, prompt);
  });

  it('tokenize: an address written as "name [at] host [dot] tld" is found and restored as written', async () => {
    const written = 'jane.doe [at] example [dot] com';
    const prompt = `Reply to ${written} or to j.doe(at)example(dot)org today.`;
    const { res, received } = await chatReachingEcho(ALPHA, chatBody('echo-model', prompt));
    const sent = JSON.parse(received).messages.at(-1).content;
    assert.ok(!sent.includes('jane.doe') && !sent.includes('j.doe'), `the upstream saw an address: ${sent}`);
    assert.equal(sent.match(new RegExp(TOKEN.source, 'g'))?.length, 2, sent);
    assert.equal(res.json.choices[0].message.content, prompt);
  });

  it('tokenize, streamed: a token split across 3-character chunks is restored whole', async () => {
    const prompt = `Please forward this to ${EMAIL} and to ${EMAIL} again.`;
    const before = await echo.settledRequestCount();
    const { text, deltas } = await streamChat(gw, ALPHA, chatBody('echo-model', prompt));
    await echo.waitForRequests(before + 1);
    const sent = JSON.parse(echo.requests()[before].body).messages.at(-1).content;
    assert.ok(!sent.includes(EMAIL), sent);
    const tokens = sent.match(new RegExp(TOKEN.source, 'g'));
    assert.equal(tokens?.length, 2, sent);
    assert.equal(tokens[0], tokens[1], 'the same value in one request gets the same token');
    // The upstream wrote the token in pieces of 3 characters: no piece held a whole token.
    assert.ok(tokens[0].length > 6);
    assert.equal(text, prompt);
    assert.ok(!deltas.some((d) => d.includes('⟦') || d.includes('⟧')), `a token fragment reached the client: ${JSON.stringify(deltas)}`);
  });

  it('responses: a card number the model writes is removed, plain and streamed across chunks', async () => {
    const expected = 'Your card [REDACTED:credit_card] is on file.';
    const plain = await gw.chat(ALPHA, chatBody('card-model', 'What card do I have on file?'));
    assert.equal(plain.status, 200, plain.text);
    assert.equal(plain.json.choices[0].message.content, expected);
    ids.responseRedacted = plain.headers['x-request-id'];
    const streamed = await streamChat(gw, ALPHA, chatBody('card-model', 'What card do I have on file?'));
    assert.equal(streamed.text, expected, JSON.stringify(streamed.deltas));
    // The writer sent the number in pieces of 3 characters; not one of its digits reached the client.
    assert.ok(!streamed.deltas.some((d) => /[0-9]/.test(d)), `card digits reached the client: ${JSON.stringify(streamed.deltas)}`);
  });

  it('zones: a rule restricting to a zone whose backends do not serve the model gives 503, even where another rule names a backend outside it', async () => {
    const res = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'What is the status of project Nightjar?')));
    assertError(res, { status: 503, type: 'service_unavailable_error', code: 'no_backend_available' }, 'zone');
    ids.zone = res.headers['x-request-id'];
    assert.match(res.json.error.message, /vault-room/);
    assert.match(res.json.error.message, /site-echo/);
  });

  it('X-Data-Class above the tenant clearance is denied and never reaches the upstream', async () => {
    const res = await assertNothingReachesUpstream(() =>
      gw.chat(BETA, chatBody('echo-model', 'Quarterly figures attached.'), { headers: { 'X-Data-Class': 'confidential' } }));
    assertError(res, { status: 403, type: 'permission_error', code: 'denied_by_policy' }, 'clearance');
    // The same request within the clearance passes, so the class header alone decided.
    const { res: ok } = await chatReachingEcho(BETA, chatBody('echo-model', 'Quarterly figures attached.'), { 'X-Data-Class': 'internal' });
    assert.equal(ok.json.choices[0].message.content, 'Quarterly figures attached.');
  });

  it('X-Data-Class names a class in any letter case; a name that is no class is denied, listing the classes', async () => {
    const cased = await assertNothingReachesUpstream(() =>
      gw.chat(BETA, chatBody('echo-model', 'Quarterly figures attached.'), { headers: { 'X-Data-Class': 'Confidential' } }));
    assertError(cased, { status: 403, type: 'permission_error', code: 'denied_by_policy' }, 'Confidential');
    assert.match(cased.json.error.message, /clearance/);
    const { res: ok } = await chatReachingEcho(BETA, chatBody('echo-model', 'Quarterly figures attached.'), { 'X-Data-Class': 'INTERNAL' });
    assert.equal(ok.json.choices[0].message.content, 'Quarterly figures attached.');
    const unknown = await assertNothingReachesUpstream(() =>
      gw.chat(BETA, chatBody('echo-model', 'Quarterly figures attached.'), { headers: { 'X-Data-Class': 'secret' } }));
    assertError(unknown, { status: 403, type: 'permission_error', code: 'denied_by_policy' }, 'secret');
    assert.match(unknown.json.error.message, /'secret' is not one of: public, internal, confidential, restricted/);
  });

  it('a denied request never reaches the upstream', async () => {
    const res = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'Use AKIAIOSFODNN7EXAMPLE to log in.')));
    assertError(res, { status: 403, type: 'permission_error', code: 'denied_by_policy' }, 'credential');
    assert.match(res.json.error.message, /Credentials never leave this building\./);
    assert.match(res.json.error.message, /no-credentials/);
    const streamed = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'Use AKIAIOSFODNN7EXAMPLE to log in.', { stream: true })));
    assertError(streamed, { status: 403, code: 'denied_by_policy' }, 'credential, stream: true');
  });

  it('vault tokens are stable within a conversation and never restored for another tenant', async () => {
    const conversation = { 'X-Conversation-Id': 'conv-vault-itest' };
    const tokenOf = async (key, prompt, headers) => {
      const { res, received } = await chatReachingEcho(key, chatBody('echo-model', prompt), headers);
      assert.equal(res.json.choices[0].message.content, prompt, 'the value comes back restored');
      return JSON.parse(received).messages.at(-1).content.match(TOKEN)?.[0];
    };
    const first = await tokenOf(ALPHA, `Mail ${EMAIL} today.`, conversation);
    const again = await tokenOf(ALPHA, `Mail ${EMAIL} tomorrow.`, conversation);
    assert.ok(first, 'the e-mail address was tokenized');
    assert.equal(again, first, 'the same value in the same conversation gets the same token');
    const elsewhere = await tokenOf(ALPHA, `Mail ${EMAIL} today.`, { 'X-Conversation-Id': 'conv-other' });
    assert.notEqual(elsewhere, first, 'another conversation gets another token');

    // Another tenant who sends alpha's token (and whose own e-mail address is tokenized, so its
    // answer is restored) gets the token back as it is, never alpha's value.
    const stolen = `Who is ${first}? Reply to bob@example.org.`;
    const { res } = await chatReachingEcho(BETA, chatBody('echo-model', stolen), conversation);
    const answer = res.json.choices[0].message.content;
    assert.ok(!answer.includes(EMAIL), `beta received alpha's value: ${answer}`);
    assert.ok(answer.includes(first), `the foreign token is left as it is: ${answer}`);
    assert.ok(answer.includes('bob@example.org'), `beta's own value is restored: ${answer}`);
  });

  it('a broken policy on reload is rejected (log and metric) and the old policy keeps deciding', async () => {
    assert.notEqual(BROKEN_POLICY, POLICY);
    assert.ok(!BROKEN_POLICY.includes('redact-cards'));
    const stderrBefore = gw.stderr.length;
    await reloadPolicy(BROKEN_POLICY, 'rejected', 'the broken policy to be rejected');
    const log = await gw.waitForStderr(/"reload_rejected"/, stderrBefore, 5000, 'the rejection');
    const line = log.split('\n').find((l) => l.includes('"reload_rejected"'));
    assert.ok(line, `no reload_rejected log line:\n${log}`);
    assert.match(line, /actoin/, `the log line names the mistake: ${line}`);

    const { res, received } = await chatReachingEcho(ALPHA, chatBody('echo-model', `Refund card ${CARD} please.`));
    assert.ok(received.includes('[REDACTED:credit_card]') && !received.includes(CARD), received);
    assert.equal(res.json.choices[0].message.content, 'Refund card [REDACTED:credit_card] please.');
    const denied = await assertNothingReachesUpstream(() =>
      gw.chat(ALPHA, chatBody('echo-model', 'Use AKIAIOSFODNN7EXAMPLE to log in.')));
    assertError(denied, { status: 403, code: 'denied_by_policy' }, 'credential after the rejected reload');

    // Putting the good file back is applied again (the file watcher or SIGHUP).
    await reloadPolicy(POLICY, 'applied', 'the good policy to be applied again');
  });

  it('a policy whose quoted text is never closed is rejected on reload at its opening quote; the old policy keeps deciding', async () => {
    // Read to the end of the file, the deny message would have taken in every rule after it.
    const open = POLICY.replace('building."', 'building.');
    assert.notEqual(open, POLICY);
    const lines = POLICY.split('\n');
    const line = lines.findIndex((l) => l.includes('message: "Credentials never leave')) + 1;
    const column = lines[line - 1].indexOf('"') + 1;
    const stderrBefore = gw.stderr.length;
    await reloadPolicy(open, 'rejected', 'the policy with an open quote to be rejected');
    const log = await gw.waitForStderr(/"reload_rejected"/, stderrBefore, 5000, 'the rejection');
    assert.ok(log.includes(`:${line}:${column}: YAML syntax error: the quoted text that starts here is never closed`), log);
    const { received } = await chatReachingEcho(ALPHA, chatBody('echo-model', `Refund card ${CARD} please.`));
    assert.ok(received.includes('[REDACTED:credit_card]') && !received.includes(CARD), received);
    await reloadPolicy(POLICY, 'applied', 'the good policy to be applied again');
  });

  it('an emptied policy file (an editor truncating it before writing) is rejected and the gateway keeps serving', async () => {
    // Found by tests/fuzz/policy_fuzz: loading a policy that defined no detector yet crashed the process.
    for (const text of ['', 'name: half-written\n']) {
      await reloadPolicy(text, 'rejected', `the policy ${JSON.stringify(text)} to be rejected`);
      const { received } = await chatReachingEcho(ALPHA, chatBody('echo-model', `Refund card ${CARD} please.`));
      assert.ok(received.includes('[REDACTED:credit_card]') && !received.includes(CARD), received);
    }
    await reloadPolicy(POLICY, 'applied', 'the good policy to be applied again');
  });

  it('a changed file is picked up without SIGHUP; what lint finds is logged and the policy serves as written', async () => {
    const withStranger = POLICY.replace('  - name: beta\n    clearance: internal\n',
      '  - name: beta\n    clearance: internal\n  - name: gamma\n    clearance: public\n');
    assert.notEqual(withStranger, POLICY);
    const reloaded = (text, what) => reloadPolicy(text, 'applied', what, { signal: false });
    // /metrics names the policy in force by the same version decision records carry.
    const policyInfo = async () => (await gw.metrics()).matching('sovereign_policy_info').map((s) => s.labels);
    const policyName = /^name: (.+)$/m.exec(POLICY)[1];
    assert.deepEqual(await policyInfo(), [{ policy: policyName, version: sha256Hex(POLICY) }]);
    const stderrBefore = gw.stderr.length;
    await reloaded(withStranger, 'the file watcher to apply the changed policy');
    assert.deepEqual(await policyInfo(), [{ policy: policyName, version: sha256Hex(withStranger) }]);
    const log = await gw.waitForStderr(/policy_lint_finding/, stderrBefore, 5000, 'a lint finding');
    const line = log.split('\n').find((l) => l.includes('policy_lint_finding'));
    assert.ok(line, `a policy_lint_finding line:\n${gw.stderr.slice(stderrBefore)}`);
    assert.match(JSON.parse(line).message, /policy\.yaml:\d+:\d+: tenant 'gamma' can never be allowed/, line);
    const { res } = await chatReachingEcho(ALPHA, chatBody('echo-model', 'Still served after the change.'));
    assert.equal(res.status, 200, res.text);
    await reloaded(POLICY, 'the file watcher to apply the original policy again');
  });

  it('the audit log records detectors and transforms, never the values', async () => {
    assert.deepEqual(Object.keys(ids).sort(), ['redacted', 'responseRedacted', 'tokenized', 'zone'], 'the tests above ran');
    const status = await gw.process.stop(15000);
    assert.equal(status.code, 0, gw.process.describe());
    const auditDir = path.join(dir, 'audit');
    await assertAuditValid(auditDir, keys.signingPub);
    const records = await auditQuery(auditDir);
    const decisionOf = (id) => {
      const { decision } = recordsOf(records, id);
      assert.equal(decision.length, 1, `one decision record for ${id}`);
      return decision[0];
    };
    const redacted = decisionOf(ids.redacted);
    assert.deepEqual(redacted.detectors, { credit_card: 1 });
    assert.ok(redacted.rules.includes('redact-cards'), JSON.stringify(redacted));
    assert.equal(redacted.decision, 'allow');
    const tokenized = decisionOf(ids.tokenized);
    assert.deepEqual(tokenized.detectors, { email: 1 });
    assert.ok(tokenized.rules.includes('tokenize-emails'), JSON.stringify(tokenized));
    const zone = decisionOf(ids.zone);
    assert.deepEqual(zone.zones, ['vault-room'], JSON.stringify(zone));
    assert.equal(recordsOf(records, ids.zone).outcome[0]?.status, 503);
    const all = JSON.stringify(records);
    for (const value of [CARD, CARD.replace(/ /g, ''), EMAIL, 'AKIAIOSFODNN7EXAMPLE']) {
      assert.ok(!all.includes(value), `an audit record holds ${value}`);
    }
    // The card the model wrote (and the gateway removed) is counted in the outcome record.
    const written = recordsOf(records, ids.responseRedacted).outcome;
    assert.equal(written.length, 1);
    assert.deepEqual(written[0].output_detectors, { credit_card: 1 }, JSON.stringify(written[0]));
  });
});

describe('a tenant whose share of the vault is taken', { timeout: 60000 }, () => {
  let dir;
  let echo;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-vault-share-');
    const keys = await initKeys(path.join(dir, 'keys'));
    const policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);
    echo = await Upstream.start({ name: 'echo', 'echo-last-user': true });
    const evidence = evidenceSections(keys, path.join(dir, 'audit'));
    gw = await Gateway.start({
      tenants: [tenant({ name: 'alpha', keys: [ALPHA], models: ['*'] }), tenant({ name: 'beta', keys: [BETA], models: ['*'] })],
      backends: [openaiBackend({ name: 'site-echo', zone: 'site', models: ['echo-model'], upstreams: [echo] })],
      policy: policyFile,
      ...evidence,
      vault: { ...evidence.vault, max_entries_per_tenant: 1 },
    });
  });

  after(async () => {
    await gw?.stop();
    await echo?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gets 503 tokenization_unavailable, counted each time and logged once; other tenants go on', async () => {
    // Mappings of a conversation outlive their request (a request's own are dropped when it is done).
    const ask = (key, email) =>
      gw.chat(key, chatBody('echo-model', `Write to ${email} today.`), { headers: { 'X-Conversation-Id': 'share-test' } });
    assert.equal((await ask(ALPHA, 'first@example.com')).status, 200);
    for (const email of ['second@example.com', 'third@example.com']) {
      const refused = await ask(ALPHA, email);
      assertError(refused, { status: 503, code: 'tokenization_unavailable' }, email);
      assert.match(refused.json.error.message, /tenant 'alpha' holds its limit of 1 live token mappings/);
    }
    assert.equal((await ask(BETA, 'beta@example.com')).status, 200, 'another tenant still tokenizes');
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_vault_refusals_total'), 2, metrics.text);
    const logged = gw.stderr.split('\n').filter((l) => l.includes('"event":"vault_refused"'));
    assert.equal(logged.length, 1, gw.stderr);
    assert.match(JSON.parse(logged[0]).message, /tenant 'alpha'/);
  });

  it('a value longer than the vault keeps (an address inside a 9 KiB base64 attachment) is refused with 400 naming where, and is no vault refusal', async () => {
    // An address found in an encoded run is tokenized with the whole run: here 9,664 bytes.
    const attachment = Buffer.from(`${'Minutes of the meeting. '.repeat(300)}Contact ${EMAIL}.`).toString('base64');
    const metricsBefore = await gw.metrics();
    const logFrom = gw.stderr.length;
    const requestsBefore = await echo.settledRequestCount();
    const refused = await gw.chat(BETA, chatBody('echo-model', `Attachment: ${attachment}`), { headers: { 'X-Conversation-Id': 'long-value' } });
    assertError(refused, { status: 400, code: 'invalid_request' }, 'a 9 KiB value to tokenize');
    assert.equal(refused.json.error.param, 'messages[1].content');
    assert.match(refused.json.error.message,
      /^The policy tokenizes the email value at messages\[1\]\.content, which has \d+ bytes; the token vault keeps values of at most 4096 bytes/);
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_vault_refusals_total'), metricsBefore.value('sovereign_vault_refusals_total'), metrics.text);
    assert.ok(!gw.stderr.slice(logFrom).includes('"event":"vault_refused"'), gw.stderr.slice(logFrom));
    assert.equal(echo.requests().length, requestsBefore, 'nothing reached the upstream');
  });
});
