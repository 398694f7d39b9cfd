// Content parts no detector can read (images, audio, files), let through for the tenants whose officers
// opted in (allow_unscanned), at the class they set (unscanned_class): the request goes byte-exact to a
// zone cleared for that class and nowhere else; every other tenant, type or remote URL is still refused
// with 400 before anything leaves; the audit log counts what went out unscanned; `policy explain` says
// so; the built-in engine, which has no vision, refuses an image whatever the policy allows.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, runCli } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { initKeys, evidenceSections, auditQuery, assertAuditValid, recordsOf } from './lib/evidence.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const RADIOLOGY = 'sk-unscanned-radiology';
const MARKETING = 'sk-unscanned-marketing';
const SCAN = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

// Radiology may send images, as restricted data; only the radiology GPUs may hold restricted data.
const POLICY = `name: unscanned-itest
classes: [public, internal, restricted]
default_clearance: internal
zones:
  - {name: radiology-gpus, max_class: restricted}
  - {name: cloud, max_class: internal}
tenants:
  - name: radiology
    clearance: restricted
    allow_unscanned: [image_url]
    unscanned_class: restricted
  - name: marketing
    clearance: internal
rules:
  - name: everyone
    then: {action: allow}
`;

// A chat body, as the bytes the client sends, with an image part after the question.
const imageBody = (model, image = { type: 'image_url', image_url: { url: SCAN, detail: 'high' } }) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: [{ type: 'text', text: 'Any fracture?' }, image] }], max_tokens: 20 });

describe('content parts let through unscanned for the tenants that opted in', { timeout: 180000 }, () => {
  let dir;
  let keys;
  let site;
  let cloud;
  let gw;
  let policyFile;
  const ids = {};

  before(async () => {
    dir = tempDir('sovereign-unscanned-');
    keys = await initKeys(path.join(dir, 'keys'));
    policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);
    site = await Upstream.start({ name: 'radiology-gpus', echo: true });
    cloud = await Upstream.start({ name: 'cloud', echo: true });
    const made = await runCli(['model', 'make-demo', path.join(dir, 'demo.gguf')], { timeoutMs: 60000 });
    assert.equal(made.code, 0, `model make-demo:\n${made.output}`);
    gw = await Gateway.start({
      tenants: [tenant({ name: 'radiology', keys: [RADIOLOGY], models: ['*'] }), tenant({ name: 'marketing', keys: [MARKETING], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'site-vision', zone: 'radiology-gpus', models: ['vision'], upstreams: [site] }),
        openaiBackend({ name: 'cloud-vision', zone: 'cloud', models: ['vision-cloud'], upstreams: [cloud] }),
        { name: 'engine', type: 'local', zone: 'radiology-gpus', models: ['demo'], model_file: path.join(dir, 'demo.gguf'),
          device: 'cpu', context_length: 256, max_batch: 1 },
      ],
      policy: policyFile,
      ...evidenceSections(keys, path.join(dir, 'audit')),
    }, { readyTimeoutMs: 60000 });
  });

  after(async () => {
    await gw?.stop();
    await site?.stop();
    await cloud?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Sends `body` and asserts that neither upstream received anything for it.
  async function refusedBeforeLeaving(key, body) {
    const before = site.requests().length + cloud.requests().length;
    const res = await gw.chat(key, body, { headers: { 'content-type': 'application/json' } });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(site.requests().length + cloud.requests().length, before, `an upstream received the request: ${res.text}`);
    return res;
  }

  it("an opted-in tenant's image goes byte-exact to the zone cleared for its class", async () => {
    const body = imageBody('vision');
    const res = await gw.chat(RADIOLOGY, body, { headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.echo.body, body, 'the upstream received the bytes the client sent');
    ids.allowed = res.headers['x-request-id'];
  });

  it('a streamed request with an image goes the same way, and its answer streams back', async () => {
    const body = JSON.stringify({ ...JSON.parse(imageBody('vision')), stream: true });
    const before = site.requests().length;
    const res = await gw.chat(RADIOLOGY, body, { headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.text, /data: \[DONE\]/);
    await site.waitForRequests(before + 1);
    assert.equal(site.requests().at(-1).body, body, 'the upstream received the bytes the client sent');
  });

  it('and is refused where the class may not go: no backend of the cloud zone receives it', async () => {
    const res = await refusedBeforeLeaving(RADIOLOGY, imageBody('vision-cloud'));
    assert.equal(res.status, 503, res.text);
    assert.match(res.json.error.message, /the policy allows only zone\(s\) \[radiology-gpus\] for this request and no backend there serves it/);
    ids.cloud = res.headers['x-request-id'];
    // The same tenant's text goes to the cloud as before: only the image raised the class.
    const text = await gw.chat(RADIOLOGY, JSON.stringify({ model: 'vision-cloud', messages: [{ role: 'user', content: 'Hello' }] }),
      { headers: { 'content-type': 'application/json' } });
    assert.equal(text.status, 200, text.text);
  });

  it('a tenant without the opt-in is still refused with 400 naming the part', async () => {
    const res = await refusedBeforeLeaving(MARKETING, imageBody('vision'));
    assertError(res, { status: 400, code: 'invalid_request' }, 'marketing image');
    assert.equal(res.json.error.param, 'messages[0].content[1]');
    assert.match(res.json.error.message, /'messages\[0\]\.content\[1\]' is a content part of type 'image_url', whose data .* no detector can read; send the prompt as text\.$/);
  });

  it('a remote image URL is refused, naming the URL: the backend would fetch it past the egress guard', async () => {
    for (const image of [{ type: 'image_url', image_url: { url: 'https://images.example.com/xray.png' } },
      { type: 'image_url', image_url: 'http://10.0.0.9/xray.png' }]) {
      const res = await refusedBeforeLeaving(RADIOLOGY, imageBody('vision', image));
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(image));
      assert.equal(res.json.error.param, typeof image.image_url === 'string' ? 'messages[0].content[1].image_url' : 'messages[0].content[1].image_url.url');
      assert.match(res.json.error.message, /is a URL the backend would fetch from outside the boundary, where the gateway's egress guard does not reach; tenant radiology may send image_url parts unscanned only with their data inline/);
    }
  });

  it('a type the tenant does not list is refused, saying which it may send', async () => {
    const res = await refusedBeforeLeaving(RADIOLOGY, imageBody('vision', { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }));
    assertError(res, { status: 400, code: 'invalid_request' }, 'audio');
    assert.match(res.json.error.message, /tenant radiology lets through unscanned only parts of type image_url/);
  });

  it('the built-in engine, which has no vision, refuses an image the policy lets through', async () => {
    const res = await gw.chat(RADIOLOGY, imageBody('demo'), { headers: { 'content-type': 'application/json' } });
    assertError(res, { status: 400, code: 'invalid_request' }, 'image to the built-in engine');
    assert.equal(res.json.error.param, 'messages[0].content[1]');
    assert.match(res.json.error.message, /the built-in engine serving 'demo' reads text only; 'messages\[0\]\.content\[1\]' is of type 'image_url'/);
  });

  it('policy explain shows the part let through and the class it counted as, or the refusal', async () => {
    const request = path.join(dir, 'request.json');
    fs.writeFileSync(request, imageBody('vision'));
    const explained = await runCli(['policy', 'explain', '--policy', policyFile, '--request', request, '--tenant', 'radiology']);
    assert.equal(explained.code, 0, explained.output);
    assert.match(explained.stdout, /^Decision: ALLOW/);
    assert.match(explained.stdout, /Parts no detector can read, let through unscanned:\n {2}- image_url in messages\[0\]\.content\[1\], counted as class restricted\n/);
    assert.match(explained.stdout, /let through unscanned, as tenant radiology allows image_url parts: messages\[0\]\.content\[1\] \(image_url\); they count as class restricted/);
    assert.match(explained.stdout, /zones: radiology-gpus\n/);
    const refused = await runCli(['policy', 'explain', '--policy', policyFile, '--request', request, '--tenant', 'marketing']);
    assert.equal(refused.code, 0, refused.output);
    assert.match(refused.stdout, /^Decision: REFUSED before the policy decides \(HTTP 400, invalid_request, parameter 'messages\[0\]\.content\[1\]'\)/);
  });

  it('the audit log counts the parts let through unscanned, by type, and auditors can query for them', async () => {
    assert.deepEqual(Object.keys(ids).sort(), ['allowed', 'cloud'], 'the tests above ran');
    const status = await gw.process.stop(15000);
    assert.equal(status.code, 0, gw.process.describe());
    const auditDir = path.join(dir, 'audit');
    await assertAuditValid(auditDir, keys.signingPub);
    const records = await auditQuery(auditDir);
    for (const id of [ids.allowed, ids.cloud]) {
      const { decision } = recordsOf(records, id);
      assert.equal(decision.length, 1, `one decision record for ${id}`);
      assert.deepEqual(decision[0].detectors, { 'unscanned:image_url': 1 });
      assert.equal(decision[0].data_class, 'restricted');
      assert.deepEqual(decision[0].zones, ['radiology-gpus']);
    }
    const found = await auditQuery(auditDir, ['--detector', 'unscanned:image_url', '--kind', 'decision']);
    assert.ok(found.some((r) => r.request_id === ids.allowed) && found.some((r) => r.request_id === ids.cloud), JSON.stringify(found));
    assert.ok(found.every((r) => r.detectors['unscanned:image_url'] >= 1), JSON.stringify(found));
  });
});
