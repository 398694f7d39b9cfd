// The quickstart as a newcomer runs it: the example's gateway.yaml and policy.yaml unchanged but
// for the ports, the demo model from `sovereign model make-demo`, keys from `sovereign keys init`,
// then `serve`. The built-in engine answers the official openai client, the policy refuses a
// credential, and afterwards the auditor's tools verify the log and find every request in it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';
import { assertShape } from './lib/openai_shapes.mjs';
import { prepareQuickstart, QUICKSTART_KEY } from './lib/quickstart.mjs';
import { assertAuditValid, auditQuery, recordsOf, startGatewayFromFile, stopGracefully } from './lib/evidence.mjs';

describe('quickstart, end to end', { timeout: 180000 }, () => {
  let qs;
  let gw;
  let client;
  const allowedIds = [];
  let deniedId;

  before(async () => {
    qs = await prepareQuickstart();
    gw = await startGatewayFromFile(qs.configPath, qs.ports, { cwd: qs.root, readyTimeoutMs: 60000 });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.apiPort}/v1`, apiKey: QUICKSTART_KEY, maxRetries: 0, timeout: 60000 });
  });

  after(async () => {
    await gw?.process.stop(5000);
    if (qs) fs.rmSync(qs.root, { recursive: true, force: true });
  });

  it('GET /v1/models lists the demo model', async () => {
    const res = await gw.api({ key: QUICKSTART_KEY, path: '/v1/models' });
    assert.equal(res.status, 200, res.text);
    assertShape('modelList', res.json, '/v1/models');
    assert.deepEqual(res.json.data.map((m) => m.id), ['demo']);
  });

  it('the openai client gets a chat completion with usage, cut at max_tokens', async () => {
    const { data: completion, response } = await client.chat.completions.create({
      // A fixed seed: the demo model's random weights can sample its end-of-text token early, and
      // this test is about the cut at max_tokens.
      model: 'demo', messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 6, seed: 11,
    }).withResponse();
    allowedIds.push(response.headers.get('x-request-id'));
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'demo');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].message.role, 'assistant');
    assert.equal(typeof completion.choices[0].message.content, 'string');
    assert.equal(completion.choices[0].finish_reason, 'length', JSON.stringify(completion));
    assert.equal(completion.usage.completion_tokens, 6, JSON.stringify(completion.usage));
    assert.ok(completion.usage.prompt_tokens > 0, JSON.stringify(completion.usage));
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  });

  it('the openai client streams a chat completion with usage, cut at max_tokens', async () => {
    const { data: stream, response } = await client.chat.completions.create({
      model: 'demo', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8, seed: 11, stream: true,
      stream_options: { include_usage: true },
    }).withResponse();
    allowedIds.push(response.headers.get('x-request-id'));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 2, `expected several chunks, got ${JSON.stringify(chunks)}`);
    for (const chunk of chunks) assert.equal(chunk.object, 'chat.completion.chunk', JSON.stringify(chunk));
    const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f);
    assert.deepEqual(finishes, ['length'], JSON.stringify(chunks));
    const usage = chunks.map((c) => c.usage).filter(Boolean);
    assert.equal(usage.length, 1, `exactly one chunk carries usage: ${JSON.stringify(chunks)}`);
    assert.equal(usage[0].completion_tokens, 8, JSON.stringify(usage[0]));
    assert.ok(usage[0].prompt_tokens > 0);
    assert.equal(usage[0].total_tokens, usage[0].prompt_tokens + usage[0].completion_tokens);
  });

  it('a credential in the prompt is refused with 403 denied_by_policy naming rule no-credentials', async () => {
    await assert.rejects(client.chat.completions.create({
      model: 'demo', messages: [{ role: 'user', content: 'My AWS key is AKIAIOSFODNN7EXAMPLE, please store it.' }],
    }), (err) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError, `${err}`);
      assert.equal(err.status, 403);
      assert.equal(err.code, 'denied_by_policy');
      assert.match(err.message, /no-credentials/);
      deniedId = err.headers?.get?.('x-request-id') ?? err.headers?.['x-request-id'];
      assert.ok(deniedId, 'the 403 carries an X-Request-Id');
      return true;
    });
  });

  it('after SIGTERM the audit log verifies and holds a decision and an outcome per request', async () => {
    assert.equal(allowedIds.length, 2, 'the completions above ran');
    assert.ok(deniedId, 'the denied request above ran');
    await stopGracefully(gw);

    // SIGTERM closes the log: it verifies even as an archived log (--require-closed).
    const counts = await assertAuditValid(qs.auditDir, qs.keys.signingPub, { requireClosed: true });
    assert.ok(counts.records[1] >= 6, `expected at least 6 records, got ${counts.records[1]}`);

    const records = await auditQuery(qs.auditDir);
    for (const id of [...allowedIds, deniedId]) {
      const { decision, outcome } = recordsOf(records, id);
      assert.equal(decision.length, 1, `one decision record for ${id}: ${JSON.stringify(records)}`);
      assert.equal(outcome.length, 1, `one outcome record for ${id}: ${JSON.stringify(records)}`);
      assert.ok(decision[0].leaf < outcome[0].leaf, `the decision of ${id} precedes its outcome`);
      assert.equal(decision[0].tenant, 'demo');
      assert.equal(decision[0].model, 'demo');
      assert.match(decision[0].payload_sha256, /^[0-9a-f]{64}$/);
    }
    for (const id of allowedIds) {
      const { decision, outcome } = recordsOf(records, id);
      assert.equal(decision[0].decision, 'allow');
      assert.ok(decision[0].rules.includes('demo-on-site'), JSON.stringify(decision[0]));
      assert.equal(outcome[0].status, 200);
      assert.equal(outcome[0].backend, 'site-engine');
      assert.equal(outcome[0].zone, 'site');
    }
    const denied = recordsOf(records, deniedId);
    assert.equal(denied.decision[0].decision, 'deny');
    assert.ok(denied.decision[0].rules.includes('no-credentials'), JSON.stringify(denied.decision[0]));
    assert.deepEqual(denied.decision[0].detectors, { aws_access_key: 1 });
    assert.equal(denied.outcome[0].status, 403);
    assert.equal(denied.outcome[0].backend, '');

    // A request filter selects both records of the denied request.
    const deniedOnly = await auditQuery(qs.auditDir, ['--decision', 'deny']);
    assert.deepEqual(deniedOnly.map((r) => `${r.kind} ${r.request_id}`), [`decision ${deniedId}`, `outcome ${deniedId}`]);
    const routed = await auditQuery(qs.auditDir, ['--decision', 'allow', '--zone', 'site', '--kind', 'decision']);
    const toSite = new Set(records.filter((r) => r.kind === 'outcome' && r.zone === 'site').map((r) => r.request_id));
    assert.deepEqual(routed.map((r) => r.request_id).sort(),
      records.filter((r) => r.kind === 'decision' && r.decision === 'allow' && toSite.has(r.request_id))
        .map((r) => r.request_id).sort());
    assert.ok(routed.length >= 2, JSON.stringify(routed));
    // Never a payload: the credential itself is in no record.
    assert.ok(!JSON.stringify(records).includes('AKIAIOSFODNN7EXAMPLE'), 'a record holds the credential');
  });
});
