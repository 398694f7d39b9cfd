// A policy at the size its limits allow (10,000 rules, half deny and half allow, 1,000 tenants): the gateway
// is ready as soon as the policy is loaded, answers with it, stops promptly on SIGTERM right after a
// SIGHUP, and logs what lint finds in it once its analysis, which runs beside the serving, is done.
// That analysis used to run on the control thread before anything else: minutes at this size.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';

const KEY = 'sk-large-policy-t4';
const TENANTS = 1000;
const RULES_PER_KIND = 4999;  // and the rule locking t3 out: 10,000 rules, the limit
const DETECTORS = Math.ceil(RULES_PER_KIND / TENANTS);
// Loading 10,000 rules takes seconds on a slow machine; the analysis it used to wait for took minutes.
const READY_WITHIN_MS = 15000;
const STOPPED_WITHIN_MS = 15000;

// Tenant tK has five deny rules (each about a keyword of its own, so none covers another) and five
// allow rules; t3 is then locked out by a deny rule at the end, which shadows its five allow rules.
function largePolicy() {
  const lines = ['name: large', 'version: 1', 'classes: [public, internal, confidential, restricted]',
    'zones: [{name: site}]', 'detectors:'];
  for (let d = 0; d < DETECTORS; d++) lines.push(`  - {name: kw${d}, class: internal, keywords: [zqxkeyword${d}]}`);
  lines.push('tenants:');
  for (let t = 0; t < TENANTS; t++) lines.push(`  - {name: t${t}}`);
  lines.push('rules:');
  for (let k = 0; k < RULES_PER_KIND; k++) {
    lines.push(`  - {name: d${k}, when: {tenants: [t${k % TENANTS}], detected: [kw${Math.floor(k / TENANTS)}]}, ` +
      'then: {action: deny, message: x}}');
  }
  for (let k = 0; k < RULES_PER_KIND; k++) lines.push(`  - {name: a${k}, when: {tenants: [t${k % TENANTS}]}, then: {action: allow}}`);
  lines.push('  - {name: lock-t3, when: {tenants: [t3]}, then: {action: deny, message: locked}}');
  return lines.join('\n') + '\n';
}
const POLICY = largePolicy();

describe('a policy of 10,000 rules and 1,000 tenants', { timeout: 180000 }, () => {
  let dir;
  let upstream;
  let gw;
  let readyAfterMs;

  before(async () => {
    dir = tempDir('sovereign-large-policy-');
    const policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, POLICY);
    upstream = await Upstream.start({ name: 'large-policy-echo' });
    const started = Date.now();
    gw = await Gateway.start({
      tenants: [tenant({ name: 't4', keys: [KEY], models: ['echo-model'] })],
      backends: [openaiBackend({ name: 'site-echo', zone: 'site', models: ['echo-model'], upstreams: [upstream] })],
      policy: policyFile,
    }, { readyTimeoutMs: READY_WITHIN_MS });
    readyAfterMs = Date.now() - started;
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is ready as soon as it is loaded, and decides with it', async () => {
    assert.ok(readyAfterMs < READY_WITHIN_MS, `ready after ${readyAfterMs} ms`);
    const allowed = await gw.chat(KEY, { model: 'echo-model', messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(allowed.status, 200, allowed.text);
    const denied = await gw.chat(KEY, { model: 'echo-model', messages: [{ role: 'user', content: 'zqxkeyword2' }] });
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.json.error.code, 'denied_by_policy', denied.text);
  });

  it('logs what lint finds once the analysis beside the serving is done', async () => {
    const log = await gw.waitForStderr(/rule 'a4003' is shadowed/, 0, 60000, 'the shadowed rules of t3');
    const findings = log.split('\n').filter((l) => l.includes('policy_lint_finding')).map((l) => JSON.parse(l).message);
    const shadowed = findings.filter((m) => m.includes('is shadowed'));
    assert.deepEqual(shadowed.map((m) => /rule '([^']+)' is shadowed/.exec(m)[1]), ['a3', 'a1003', 'a2003', 'a3003', 'a4003']);
    const lockLine = POLICY.split('\n').findIndex((l) => l.includes('name: lock-t3')) + 1;
    assert.ok(shadowed.every((m) => m.endsWith(`denied by rule 'lock-t3' (line ${lockLine})`)), shadowed.join('\n'));
  });

  it('stops promptly on SIGTERM right after a SIGHUP', async () => {
    const from = gw.stderr.length;
    gw.process.signal('SIGHUP');
    gw.process.signal('SIGTERM');
    const signalled = Date.now();
    const status = await gw.process.stop(STOPPED_WITHIN_MS + 5000);
    const tookMs = Date.now() - signalled;
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null }, gw.describe());
    assert.ok(tookMs < STOPPED_WITHIN_MS, `stopped ${tookMs} ms after SIGTERM`);
    assert.match(gw.stderr.slice(from), /"event":"stopped"/);
  });
});
