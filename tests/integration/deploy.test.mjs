// What examples/deploy ships for operators: the Prometheus alerting rules pass promtool's checks
// and their own unit tests (alerts.test.yml), every gateway metric they use is one a running
// gateway exports, with the type the rule's functions expect; and the systemd unit passes
// `systemd-analyze verify` without a warning.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, gatewayBin, openaiBackend, repoRoot, runCli, tempDir, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { evidenceSections, initKeys } from './lib/evidence.mjs';

const deployDir = path.join(repoRoot, 'examples', 'deploy');
const alertsFile = path.join(deployDir, 'alerts.yml');
const KEY = 'sk-deploy-tenant';
const LIMITED_KEY = 'sk-deploy-limited';

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  assert.equal(result.error, undefined, `${command} could not run (scripts/setup.sh installs it): ${result.error}`);
  return result;
}

// The gateway metrics each alert expression reads, with the function applied to each.
function metricsUsedByAlerts() {
  const used = [];
  for (const line of fs.readFileSync(alertsFile, 'utf8').split('\n')) {
    for (const m of line.matchAll(/(?:(\w+)\()?\b(sovereign_[a-z_]+)/g)) used.push({ fn: m[1], name: m[2], line: line.trim() });
  }
  return used;
}

describe('deployment examples', () => {
  it('alerts.yml passes promtool check rules', () => {
    const check = run('promtool', ['check', 'rules', alertsFile]);
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  });

  it('alerts.yml passes its unit tests (promtool test rules alerts.test.yml)', () => {
    const test = run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: deployDir });
    assert.equal(test.status, 0, `${test.stdout}${test.stderr}`);
  });

  it('the systemd unit passes systemd-analyze verify without a warning', () => {
    const dir = tempDir('sovereign-unit-');
    const unit = path.join(dir, 'sovereign.service');
    // verify checks that ExecStart's program exists: point it at the binary under test.
    fs.writeFileSync(unit, fs.readFileSync(path.join(deployDir, 'sovereign.service'), 'utf8')
      .replaceAll('/usr/local/bin/sovereign', gatewayBin()));
    const verify = run('systemd-analyze', ['verify', unit]);
    assert.equal(verify.status, 0, `${verify.stdout}${verify.stderr}`);
    assert.equal(`${verify.stdout}${verify.stderr}`.trim(), '', 'systemd-analyze verify warned');
  });
});

describe('the metrics the alerts use, as a running gateway exports them', { timeout: 120000 }, () => {
  let dir;
  let inside;
  let outside;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-deploy-');
    const model = path.join(dir, 'demo.gguf');
    const made = await runCli(['model', 'make-demo', model], { timeoutMs: 60000 });
    assert.equal(made.code, 0, made.output);
    const keys = await initKeys(path.join(dir, 'keys'));
    inside = await Upstream.start({ name: 'inside', host: '127.0.0.1' });
    outside = await Upstream.start({ name: 'outside', host: '127.0.0.2' });
    gw = await Gateway.start({
      boundary: ['127.0.0.1/32'],
      tenants: [
        tenant({ name: 'ops', keys: [KEY], models: ['*'] }),
        tenant({ name: 'limited', keys: [LIMITED_KEY], models: ['inside-model'], rate_limit: { requests_per_minute: 1 } }),
      ],
      backends: [
        openaiBackend({ name: 'inside-be', models: ['inside-model'], upstreams: [inside] }),
        openaiBackend({ name: 'outside-be', models: ['outside-model'], upstreams: [outside] }),
        { name: 'engine', type: 'local', zone: 'site', models: ['demo'], model_file: model, device: 'cpu',
          context_length: 256, max_batch: 1 },
      ],
      ...evidenceSections(keys, path.join(dir, 'audit')),
    }, { readyTimeoutMs: 60000 });
    // Traffic that makes every counter appear: an answer, a 429, an egress refusal.
    const chat = (model) => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal((await gw.chat(KEY, chat('inside-model'))).status, 200);
    assert.equal((await gw.chat(LIMITED_KEY, chat('inside-model'))).status, 200);
    assert.equal((await gw.chat(LIMITED_KEY, chat('inside-model'))).status, 429);
    assert.equal((await gw.chat(KEY, chat('outside-model'))).status, 503);
    assert.equal((await gw.chat(KEY, chat('demo'))).status, 200);
  });

  after(async () => {
    await gw?.stop();
    await inside?.stop();
    await outside?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Totals since start are counters (rate() and increase() read them; a gauge would be read as a level),
  // and they advance by what the writer did between scrapes, never twice for one scrape.
  it('the audit writer\'s totals are counters that follow its records and checkpoints', async () => {
    const written = (m) => m.value('sovereign_audit_records_total', { result: 'written' });
    const first = await gw.waitForMetrics((m) => written(m) >= 10, 10000, 'the five requests\' records written');
    for (const name of ['sovereign_audit_records_total', 'sovereign_audit_checkpoints_total', 'sovereign_audit_group_commits_total'])
      assert.equal(first.types[name], 'counter', `${name} is a ${first.types[name]}\n${first.text}`);
    assert.equal(first.value('sovereign_audit_records_total', { result: 'failed' }), 0, first.text);
    assert.ok(first.value('sovereign_audit_group_commits_total', { kind: 'batches' }) >= 1, first.text);
    const again = await gw.metrics();
    assert.equal(written(again), written(first), 'a second scrape with no requests between adds nothing');
    assert.equal((await gw.chat(KEY, { model: 'inside-model', messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    const after = await gw.waitForMetrics((m) => written(m) >= written(first) + 2, 10000, 'the next request\'s two records');
    assert.equal(written(after), written(first) + 2, after.text);
  });

  it('every sovereign_* metric in alerts.yml is exported, with the type its function needs', async () => {
    const metrics = await gw.metrics();
    const used = metricsUsedByAlerts();
    assert.ok(used.length >= 14, `found only ${used.length} uses of gateway metrics in alerts.yml`);
    for (const { fn, name, line } of used) {
      assert.ok(metrics.has(name), `alerts.yml uses ${name}, which the gateway does not export\n  ${line}\n${metrics.text}`);
      const type = metrics.types[name];
      if (fn === 'rate' || fn === 'increase') assert.equal(type, 'counter', `${fn}() of ${name}, a ${type}\n  ${line}`);
      if (fn === 'delta' || fn === 'changes' || fn === 'min_over_time') assert.equal(type, 'gauge', `${fn}() of ${name}, a ${type}\n  ${line}`);
    }
  });
});
