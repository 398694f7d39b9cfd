// A reload that removes a backend, or one replica of a backend, removes their series from /metrics
// (health, pool connections, dropped connections, egress refusals, retries, requests answered and
// their durations) instead of leaving them at their last values for good; a replica in rotation
// must not be reported forever as healthy or down after it is gone. What the reload keeps keeps its
// series and their values.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';

const KEY = 'sk-metrics-reload';

// The families whose series belong to one backend (all labelled with it) or one replica.
const BACKEND_FAMILIES = ['sovereign_upstream_healthy', 'sovereign_upstream_pool_connections',
  'sovereign_upstream_connections_dropped_total', 'sovereign_egress_refusals_total', 'sovereign_upstream_retries_total'];

// The API request series, labelled with the backend that answered.
const REQUEST_FAMILIES = ['sovereign_http_requests_total', 'sovereign_http_request_duration_seconds_count',
  'sovereign_http_request_duration_seconds_bucket'];

function promtoolCheck(metrics) {
  const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
  assert.equal(check.error, undefined, `promtool could not run: ${check.error}`);
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}\n--- metrics:\n${metrics.text}`);
}

describe('per-backend series across a reload that removes a backend and a replica', { timeout: 60000 }, () => {
  let good;
  let hung;  // never answers its health checks: reported 0
  let gone;  // the replica the reload removes from be-keep
  let dropped;  // be-drop's one replica; the reload removes the backend
  let gw;

  const backends = ({ withGone, withDrop }) => [
    openaiBackend({ name: 'be-keep', models: ['m-keep'], upstreams: withGone ? [good, hung, gone] : [good, hung],
      health: { interval_ms: 200, timeout_ms: 300, unhealthy_after: 2 } }),
    ...(withDrop ? [openaiBackend({ name: 'be-drop', models: ['m-drop'], upstreams: [dropped] })] : []),
  ];
  const config = (shape) => ({ tenants: [tenant({ name: 'acme', keys: [KEY], models: ['*'] })], backends: backends(shape) });
  const healthOf = (m, backend, upstream) => m.matching('sovereign_upstream_healthy', { backend, replica: upstream.url });

  before(async () => {
    [good, hung, gone, dropped] = await Promise.all([
      Upstream.start({ name: 'good' }), Upstream.start({ name: 'hung', silent: true }),
      Upstream.start({ name: 'gone' }), Upstream.start({ name: 'dropped' })]);
    gw = await Gateway.start(config({ withGone: true, withDrop: true }));
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([good, hung, gone, dropped].map((u) => u?.stop()));
  });

  it('before the reload every backend and replica has its series', async () => {
    const m = await gw.waitForMetrics((x) => healthOf(x, 'be-keep', hung)[0]?.value === 0 &&
      [[`be-keep`, good], ['be-keep', gone], ['be-drop', dropped]].every(([b, u]) => healthOf(x, b, u)[0]?.value === 1),
    10000, 'the hung replica to fail its checks and the others to pass');
    for (const family of BACKEND_FAMILIES)
      for (const backend of ['be-keep', 'be-drop'])
        assert.ok(m.matching(family, { backend }).length > 0, `${family}{backend="${backend}"} is exported\n${m.text}`);
    const res = await gw.chat(KEY, { model: 'm-keep', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 200, res.text);
    const toDropped = await gw.chat(KEY, { model: 'm-drop', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(toDropped.status, 200, toDropped.text);
    const counted = await gw.metrics();
    for (const family of REQUEST_FAMILIES)
      assert.ok(counted.matching(family, { backend: 'be-drop' }).length > 0, `${family}{backend="be-drop"}\n${counted.text}`);
    promtoolCheck(m);
  });

  it('after it, the removed backend and replica have none; the rest keep theirs, values and all', async () => {
    const before = await gw.metrics();
    const applied = before.value('sovereign_config_reloads_total', { result: 'applied' });
    const keptSeries = (m) => m.samples
      .filter((s) => BACKEND_FAMILIES.includes(s.name) && s.labels.backend === 'be-keep' && s.labels.replica !== gone.url)
      .map((s) => `${s.name}${JSON.stringify(s.labels)}`).sort();
    await gw.reload(config({ withGone: false, withDrop: false }));
    const m = await gw.waitForMetrics((x) => x.value('sovereign_config_reloads_total', { result: 'applied' }) > applied &&
      !x.text.includes('backend="be-drop"') && !x.text.includes(`replica="${gone.url}"`), 10000,
    'the reload to be applied and the series of what it removed to be gone');

    promtoolCheck(m);
    for (const family of [...BACKEND_FAMILIES, ...REQUEST_FAMILIES])
      assert.deepEqual(m.matching(family, { backend: 'be-drop' }), [], `${family}{backend="be-drop"} is gone\n${m.text}`);
    assert.deepEqual(m.matching('sovereign_upstream_healthy', { replica: gone.url }), [], m.text);
    assert.deepEqual(keptSeries(m), keptSeries(before), 'be-keep keeps exactly the series it had');
    assert.equal(healthOf(m, 'be-keep', hung)[0]?.value, 0, 'the hung replica is still reported down');
    assert.equal(healthOf(m, 'be-keep', good)[0]?.value, 1);
    assert.equal(m.value('sovereign_http_requests_total', { backend: 'be-keep' }),
      before.value('sovereign_http_requests_total', { backend: 'be-keep' }));

    // The kept backend still serves, and counts into the same series.
    const res = await gw.chat(KEY, { model: 'm-keep', messages: [{ role: 'user', content: 'again' }] });
    assert.equal(res.status, 200, res.text);
    const after = await gw.metrics();
    assert.equal(after.value('sovereign_http_requests_total', { backend: 'be-keep' }),
      m.value('sovereign_http_requests_total', { backend: 'be-keep' }) + 1);
    assert.equal(after.matching('sovereign_upstream_pool_connections', { backend: 'be-keep' }).length, 2, after.text);
  });
});
