// The egress guard: a backend whose address lies outside the declared boundary is never
// connected to (not even for health checks); its model gets 503 egress_refused, a metric and a
// log line, while backends inside the boundary keep working.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-egress-tenant';

describe('egress guard', () => {
  let inside;
  let outside;
  let gw;

  before(async () => {
    inside = await Upstream.start({ name: 'inside', host: '127.0.0.1' });
    outside = await Upstream.start({ name: 'outside', host: '127.0.0.2' });
    gw = await Gateway.start({
      boundary: ['127.0.0.1/32'],
      tenants: [tenant({ name: 'egress', keys: [KEY], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'inside-be', models: ['inside-model'], upstreams: [inside] }),
        openaiBackend({ name: 'outside-be', models: ['outside-model'], upstreams: [outside] }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await inside?.stop();
    await outside?.stop();
  });

  const chat = (model) => ({ model, messages: [{ role: 'user', content: 'hello' }] });

  it('refuses a backend outside the boundary with 503 egress_refused and counts it', async () => {
    const before = (await gw.metrics()).value('sovereign_egress_refusals_total', { backend: 'outside-be' });
    assertError(await gw.chat(KEY, chat('outside-model')), { status: 503, code: 'egress_refused' }, 'outside backend');
    assertError(await gw.chat(KEY, chat('outside-model')), { status: 503, code: 'egress_refused' }, 'outside backend again');
    const after = (await gw.metrics()).value('sovereign_egress_refusals_total', { backend: 'outside-be' });
    assert.ok(after >= before + 2, `sovereign_egress_refusals_total{backend="outside-be"} went from ${before} to ${after}`);
  });

  it('logs the refusal naming the backend', () => {
    const lines = gw.stderr.split('\n').filter((l) => /egress/i.test(l) && l.includes('outside-be'));
    assert.ok(lines.length > 0, `no log line about the egress refusal:\n${gw.stderr}`);
  });

  it('never opens a connection to the address outside the boundary, health checks included', async () => {
    // Several health-check intervals (200 ms) have passed since start; wait a little more to be sure.
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(outside.connections(), [], 'connections reached 127.0.0.2');
    assert.ok(inside.connections().length > 0, 'the inside backend was contacted (health checks), so the check is meaningful');
  });

  it('a backend inside the boundary still serves', async () => {
    const res = await gw.chat(KEY, chat('inside-model'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.system_fingerprint, 'inside');
  });
});
