// What the gateway has learnt about its backends survives a reload: a replica that fails its health
// checks stays out of rotation when the policy file is saved (the file watcher reloads it) or the
// configuration is reloaded with SIGHUP, instead of taking requests again until it fails anew.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { sitePolicy } from './lib/policies.mjs';

const KEY = 'sk-health-reload';
const POLICY = sitePolicy({ name: 'health-reload-itest', classes: ['public', 'internal', 'confidential'],
  defaultClearance: 'public', zoneDescription: "the test's upstreams",
  tenants: [{ name: 'clinic', clearance: 'confidential' }] });

const chat = { model: 'm-health', messages: [{ role: 'user', content: 'hi' }] };

describe('replica health across reloads', { timeout: 60000 }, () => {
  let dir;
  let policyFile;
  let hung;  // accepts connections and reads requests, never answers (health checks time out)
  let good;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-health-reload-itest-');
    policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);
    hung = await Upstream.start({ name: 'hung', silent: true });
    good = await Upstream.start({ name: 'good' });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'clinic', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'be-health', models: ['m-health'], upstreams: [hung, good], timeout_ms: 1500,
        health: { interval_ms: 1000, timeout_ms: 300, unhealthy_after: 2 } })],
      policy: policyFile,
    });
  });

  after(async () => {
    await gw?.stop();
    await hung?.stop();
    await good?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const healthOf = (metrics, upstream) =>
    metrics.value('sovereign_upstream_healthy', { backend: 'be-health', replica: upstream.url });
  const applied = async () => (await gw.metrics()).value('sovereign_config_reloads_total', { result: 'applied' });
  const postsTo = (upstream) => upstream.requests().filter((r) => r.method === 'POST').length;

  // Right after the reload: the hung replica is still reported down and gets no request; every
  // request is answered by the good one at once. (Its first new health check ends 300 ms after the
  // reload at the earliest, and two failed ones would be needed to mark it down again.)
  async function assertStillOutOfRotation(what) {
    assert.equal(healthOf(await gw.metrics(), hung), 0, `${what}: the hung replica is still reported unhealthy`);
    assert.equal(healthOf(await gw.metrics(), good), 1);
    const before = postsTo(hung);
    const answers = await Promise.all([0, 1, 2, 3].map(() => gw.chat(KEY, chat)));
    for (const res of answers) {
      assert.equal(res.status, 200, `${what}: ${res.text}`);
      assert.equal(res.json.system_fingerprint, 'good');
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(postsTo(hung), before, `${what}: no request was sent to the hung replica`);
  }

  it('a replica found down stays down when the policy file is saved', async () => {
    await gw.waitForMetrics((m) => healthOf(m, hung) === 0 && healthOf(m, good) === 1, 10000,
      'the hung replica to fail its health checks');
    const before = await applied();
    fs.writeFileSync(policyFile, POLICY.replace('name: everyone-on-site', 'name: everyone-on-site-saved'));
    await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result: 'applied' }) > before, 10000,
      'the file watcher to apply the saved policy');
    await assertStillOutOfRotation('after the policy file was saved');
  });

  it('and when the configuration is reloaded with SIGHUP', async () => {
    const before = await applied();
    gw.process.signal('SIGHUP');
    await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result: 'applied' }) > before, 10000,
      'the SIGHUP reload');
    await assertStillOutOfRotation('after SIGHUP');
  });
});
