// `sovereign audit tail -f` as an auditor watches a live gateway: every request's decision and
// outcome records show up within seconds as "LEAF JSON" lines, in leaf order, and SIGINT ends
// the follow loop with exit status 0.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, gatewayBin, runCli } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { TrackedProcess } from './lib/processes.mjs';
import { initKeys, evidenceSections } from './lib/evidence.mjs';

const KEY = 'sk-audit-tail-acme';

function chat(content) {
  return { model: 'audited', messages: [{ role: 'user', content }] };
}

// The tail's stdout lines parsed as "LEAF JSON"; a line of any other shape fails the test.
function tailRecords(tail) {
  return tail.lines.filter((line) => line !== '').map((line) => {
    const match = /^(\d+) (\{.*\})$/.exec(line);
    assert.ok(match, `not a "LEAF JSON" line: ${line}\n${tail.describe()}`);
    return { leaf: Number(match[1]), ...JSON.parse(match[2]) };
  });
}

describe('audit tail -f', { timeout: 60000 }, () => {
  let dir;
  let upstream;
  let gw;
  let tail;

  before(async () => {
    dir = tempDir('sovereign-audit-tail-');
    const keys = await initKeys(path.join(dir, 'keys'));
    upstream = await Upstream.start({ name: 'tail-upstream' });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, path.join(dir, 'audit'), { durability: 'strict', checkpoint_every_ms: 200 }),
    });
  });

  after(async () => {
    if (tail?.running) tail.signal('SIGKILL');
    await gw?.stop();
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints the decision and outcome records of exactly the requests sent, then exits 0 on SIGINT', async () => {
    const auditDir = path.join(dir, 'audit');
    tail = new TrackedProcess(gatewayBin(), ['audit', 'tail', '-f', auditDir]);
    // The log is empty so far: the tail prints nothing until records arrive (and must not exit).
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(tail.running, `tail -f exited on an empty log\n${tail.describe()}`);
    assert.equal(tail.stdout, '', tail.describe());

    const ids = [];
    for (let i = 0; i < 3; i++) {
      const res = await gw.chat(KEY, chat(`Tail me, request ${i}.`));
      assert.equal(res.status, 200, res.text);
      const id = res.headers['x-request-id'];
      assert.match(id ?? '', /^\S+$/, JSON.stringify(res.headers));
      ids.push(id);
    }
    assert.equal(new Set(ids).size, 3, `request ids are unique: ${ids}`);

    // The outcome record is appended after the answer went out, so wait for all six lines.
    await tail.waitUntil(() => tail.lines.length >= 6, 5000, 'the decision and outcome records of 3 requests');
    await new Promise((r) => setTimeout(r, 500)); // anything extra would have arrived by now
    const records = tailRecords(tail);
    assert.equal(records.length, 6, `two records per request, nothing else\n${tail.describe()}`);
    assert.deepEqual([...new Set(records.map((r) => r.request_id))].sort(), [...ids].sort(), tail.describe());
    assert.deepEqual(records.map((r) => r.leaf), [0, 1, 2, 3, 4, 5], 'consecutive leaf indices from the start of the log');
    for (const id of ids) {
      const mine = records.filter((r) => r.request_id === id);
      const decision = mine.filter((r) => r.kind === 'decision');
      const outcome = mine.filter((r) => r.kind === 'outcome');
      assert.equal(decision.length, 1, `one decision record for ${id}\n${tail.describe()}`);
      assert.equal(outcome.length, 1, `one outcome record for ${id}\n${tail.describe()}`);
      assert.ok(decision[0].leaf < outcome[0].leaf, `decision of ${id} before its outcome`);
      assert.equal(decision[0].decision, 'allow', JSON.stringify(decision[0]));
      assert.equal(decision[0].tenant, 'acme', JSON.stringify(decision[0]));
      assert.equal(outcome[0].status, 200, JSON.stringify(outcome[0]));
    }

    tail.signal('SIGINT');
    const timer = setTimeout(() => tail.signal('SIGKILL'), 5000);
    const status = await tail.exited;
    clearTimeout(timer);
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null },
      `tail -f did not exit cleanly on SIGINT\n${tail.describe()}`);
    assert.equal(tail.stderr, '', tail.describe());
  });
});

// An auditor who starts following before the gateway ever ran: `tail -f` waits for the log
// directory (saying so once), then follows the log from its first record across segment rotations,
// each record once and in leaf order. Without -f a missing log is an error.
describe('audit tail -f from before the first start, across segment rotations', { timeout: 90000 }, () => {
  let dir;
  let upstream;
  let gw;
  let tail;

  before(async () => {
    dir = tempDir('sovereign-audit-tail-new-');
    upstream = await Upstream.start({ name: 'tail-rotation-upstream' });
  });

  after(async () => {
    if (tail?.running) tail.signal('SIGKILL');
    await gw?.stop();
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('waits for the log, then prints every record once while segments rotate', async () => {
    const auditDir = path.join(dir, 'audit');
    const once = await runCli(['audit', 'tail', auditDir]);
    assert.equal(once.code, 2, once.output);
    assert.match(once.stderr, /cannot list the audit directory: No such file or directory/);

    tail = new TrackedProcess(gatewayBin(), ['audit', 'tail', '-f', auditDir]);
    const waiting = `sovereign audit: ${auditDir} does not exist yet; waiting for the gateway to create it (Ctrl-C to stop)\n`;
    const deadline = Date.now() + 5000;
    while (tail.stderr !== waiting && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(tail.stderr, waiting, tail.describe());
    assert.ok(tail.running, `tail -f gave up on a log that does not exist yet\n${tail.describe()}`);

    const keys = await initKeys(path.join(dir, 'keys'));
    gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir, { durability: 'relaxed', checkpoint_every_ms: 200, segment_max_bytes: 65536 }),
    });
    const segments = () => fs.readdirSync(auditDir).filter((f) => /^segment-\d+\.log$/.test(f));
    let requests = 0;
    while (segments().length < 3 && requests < 2000) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, i) => gw.chat(KEY, chat(`Rotate ${requests + i}.`))));
      for (const res of batch) assert.equal(res.status, 200, res.text);
      requests += batch.length;
    }
    assert.ok(segments().length >= 3, `the log rotated twice: ${segments()}`);

    await tail.waitUntil(() => tail.lines.length >= 2 * requests, 15000, `the ${2 * requests} records of ${requests} requests`);
    await new Promise((r) => setTimeout(r, 500));
    const records = tailRecords(tail);
    assert.equal(records.length, 2 * requests, tail.describe().slice(-2000));
    assert.deepEqual(records.map((r) => r.leaf), records.map((_, i) => i), 'every leaf once, in order');

    tail.signal('SIGINT');
    const timer = setTimeout(() => tail.signal('SIGKILL'), 5000);
    const status = await tail.exited;
    clearTimeout(timer);
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null }, tail.describe().slice(-2000));
    assert.equal(tail.stderr, waiting, 'nothing but the one note on stderr');
  });
});
