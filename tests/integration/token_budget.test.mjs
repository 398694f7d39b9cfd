// tokens_per_minute: each request is charged its estimated tokens (prompt bytes / 4, plus the
// max_tokens it allows the model) before it is forwarded; a request that would overdraw the
// tenant's minute is refused with 429 and Retry-After, and is never forwarded.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-token-budget-key';
const OTHER_KEY = 'sk-token-budget-other';

describe('tokens per minute', () => {
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'upstream', models: ['m'] });
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

  it('lets a request within the budget through and refuses the one that would overdraw it', async () => {
    const first = await gw.chat(KEY, ask(600));
    assert.equal(first.status, 200, first.text);
    // The upstream reports requests on its own output, which can lag behind the answer.
    await upstream.waitForEvent((e) => e.event === 'request' && e.method === 'POST', 5000, 'the first request to reach the upstream');
    const before = upstream.requests().length;
    const second = await gw.chat(KEY, ask(600));
    assertError(second, { status: 429, code: 'rate_limit_exceeded' }, 'over the token budget');
    assert.match(JSON.parse(second.text).error.message, /tokens per minute/);
    const retryAfter = Number(second.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${second.headers['retry-after']}`);
    await new Promise((r) => setTimeout(r, 200));  // room for a wrongly forwarded request to show
    assert.equal(upstream.requests().length, before, 'the refused request was forwarded');
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
