// The file watcher applies the policy file as saved, whole, and never misses a save: a policy saved
// while a reload is still building the previous one is applied once that is done (the watcher
// compares the bytes in force, not a time read after them), and a file written in place piece by
// piece is applied once, when it has stayed the same for a poll, never half-written.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, sha256Hex, stopAndRemove } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { sitePolicy, redactRule } from './lib/policies.mjs';

const KEY = 'sk-policy-watch';
const CARD = '4111 1111 1111 1111';

// Cards pass under OPEN; REDACTING appends a rule redacting them, so a file cut off before that rule
// is a valid policy that lets cards through.
const OPEN_POLICY = { name: 'watch-itest', defaultClearance: 'public', tenants: [{ name: 'alpha', clearance: 'confidential' }],
  onSiteTenant: 'alpha' };
const OPEN = sitePolicy(OPEN_POLICY);
const REDACT_RULE = redactRule('redact-cards', ['credit_card']);
const REDACTING = OPEN + REDACT_RULE;

// A policy that takes seconds to compile (10,000 keyword detectors), so that a save lands while a
// reload is still building it from what it read.
function slowPolicy() {
  let detectors = '';
  for (let d = 0; d < 1000; d++) detectors += `  - {name: kw${d}, class: internal, keywords: [${Array.from({ length: 10 }, (_, k) => `zq${d}x${k}word`).join(', ')}]}\n`;
  return sitePolicy({ ...OPEN_POLICY, detectors });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the policy file watcher', { timeout: 120000 }, () => {
  let dir;
  let echo;
  let gw;
  let policyFile;

  before(async () => {
    dir = tempDir('sovereign-policy-watch-');
    policyFile = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policyFile, OPEN);
    echo = await Upstream.start({ name: 'watch-echo', 'echo-last-user': true });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'alpha', keys: [KEY], models: ['echo-model'] })],
      backends: [openaiBackend({ name: 'site-echo', zone: 'site', models: ['echo-model'], upstreams: [echo] })],
      policy: policyFile,
    });
  });

  after(async () => {
    await stopAndRemove(dir, gw, echo);
  });

  const reloads = async (result) => (await gw.metrics()).value('sovereign_config_reloads_total', { result });
  const inForce = (text, timeoutMs, what) =>
    gw.waitForMetrics((m) => m.matching('sovereign_policy_info', { version: sha256Hex(text) }).length === 1, timeoutMs, what);

  // Saves by writing a new file and renaming it over the policy, as editors and deploy tools do.
  function saveByRename(text) {
    const staged = `${policyFile}.new`;
    fs.writeFileSync(staged, text);
    fs.renameSync(staged, policyFile);
  }

  async function receivedByEcho(content) {
    const before = echo.requests().length;
    const res = await gw.chat(KEY, { model: 'echo-model', messages: [{ role: 'user', content }] });
    assert.equal(res.status, 200, res.text);
    await echo.waitForRequests(before + 1);
    return echo.requests()[before].body;
  }

  it('a policy saved while a reload is still building the previous one is applied after it', async () => {
    const slow = slowPolicy();
    saveByRename(slow);
    gw.process.signal('SIGHUP');
    // The reload has read the slow policy and compiles it for seconds; this save lands meanwhile.
    // It used to pass for applied: the file's time was read when the reload ended.
    await sleep(300);
    saveByRename(REDACTING);
    await inForce(REDACTING, 30000, 'the policy saved during the reload to be in force');
    const received = await receivedByEcho(`Refund card ${CARD} please.`);
    assert.ok(received.includes('[REDACTED:credit_card]') && !received.includes(CARD), received);
  });

  it('a file written in place piece by piece is applied once, whole, never cut off', async () => {
    saveByRename(OPEN);
    await inForce(OPEN, 10000, 'the policy without the redact rule to be in force');
    const applied = await reloads('applied');
    const rejected = await reloads('rejected');
    const stderrBefore = gw.stderr.length;
    // As scp, sftp or `cat >` write: the file truncated, then written in pieces. Each piece leaves a
    // valid policy that lets cards through, until the last adds the redact rule; they come well
    // within a poll interval of each other, for longer than two polls.
    const file = fs.openSync(policyFile, 'w');
    let written = OPEN;
    fs.writeSync(file, OPEN);
    for (let piece = 0; piece < 20; piece++) {
      await sleep(150);
      const comment = `# piece ${piece} of the upload\n`;
      fs.writeSync(file, comment);
      written += comment;
    }
    await sleep(150);
    fs.writeSync(file, REDACT_RULE);
    fs.closeSync(file);
    written += REDACT_RULE;
    await inForce(written, 10000, 'the whole file to be in force');
    const reloadedLines = gw.stderr.slice(stderrBefore).split('\n').filter((l) => l.includes('"event":"reloaded"'));
    assert.equal(reloadedLines.length, 1, `applied once, whole:\n${reloadedLines.join('\n')}`);
    assert.equal(await reloads('applied'), applied + 1, 'one reload, of the whole file');
    assert.equal(await reloads('rejected'), rejected, 'no reload refused');
    const received = await receivedByEcho(`Refund card ${CARD} please.`);
    assert.ok(received.includes('[REDACTED:credit_card]') && !received.includes(CARD), received);
  });

  it('a refused policy file counts in sovereign_policy_file_refused for as long as the file holds it', async () => {
    saveByRename(OPEN);
    await inForce(OPEN, 10000, 'the policy without the redact rule to be in force');
    const refused = async () => (await gw.metrics()).value('sovereign_policy_file_refused');
    const refusedIs = (value, what) =>
      gw.waitForMetrics((m) => m.has('sovereign_policy_file_refused') && m.value('sovereign_policy_file_refused') === value,
        10000, what);
    await refusedIs(0, 'the file in force to count as not refused');
    const rejected = await reloads('rejected');
    saveByRename(OPEN.replace('action: allow', 'action: alow'));
    await refusedIs(1, 'the refused file to count');
    // The refused bytes are not tried again: the reload counter rose once, and the gauge stays.
    await sleep(3500);
    assert.equal(await reloads('rejected'), rejected + 1);
    assert.equal(await refused(), 1);
    // Put back as it is in force, the file reloads nothing and is the policy in force again.
    saveByRename(OPEN);
    await refusedIs(0, 'the file put back to count as in force');
    // A file that cannot be read is not the policy in force either; a good save then applies.
    fs.rmSync(policyFile);
    await refusedIs(1, 'the deleted file to count');
    saveByRename(REDACTING);
    await inForce(REDACTING, 10000, 'the saved policy to be in force');
    await refusedIs(0, 'the applied file to count as in force');
  });

  it('a save that changes nothing, or touches the file, reloads nothing', async () => {
    const current = fs.readFileSync(policyFile, 'utf8');
    const applied = await reloads('applied');
    const now = new Date();
    fs.utimesSync(policyFile, now, now);
    saveByRename(current);
    await sleep(3500);  // three polls: more than a change takes to settle
    assert.equal(await reloads('applied'), applied);
  });
});
