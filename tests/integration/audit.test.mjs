// The audit log as an auditor relies on it: a decision and an outcome record for every request,
// a log that `sovereign audit verify` accepts, one that survives `kill -9` under load with every
// answered request on record (strict durability), a gateway that fails closed when the log cannot
// be written, and sealed payload captures that only the auditor's key opens.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, gatewayBin, runCli, sha256Hex, bearer as bearerHeader, stopAndRemove } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { TrackedProcess } from './lib/processes.mjs';
import { request, readSse, rawExchange } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { evidenceDir, writeServeConfig, startWithEvidence, evidenceSections, assertAuditValid, auditVerify, auditQuery, recordsOf, filesUnder, stopGracefully,
  capturesOf, blockCaptures } from './lib/evidence.mjs';

const KEY = 'sk-audit-acme';
const SECRET_PHRASE = 'purple-elephant-4711';

const POLICY = `name: audit-itest
version: 1
classes: [public, internal, confidential, restricted]
default_clearance: public

zones:
  - name: site

detectors:
  - name: audit_case
    class: internal
    description: case numbers whose requests the auditors want sealed copies of
    pattern: 'AUDIT-CASE-[0-9]{6}'

tenants:
  - name: acme
    clearance: restricted

rules:
  - name: no-credentials
    when:
      detected: [aws_access_key]
    then:
      action: deny
      message: "No credentials, please."

  - name: watch-emails
    mode: warn
    when:
      detected: [email]
    then:
      action: deny
      message: "E-mail addresses will soon be refused."

  - name: capture-audit-cases
    when:
      detected: [audit_case]
    then:
      capture_payload: true

  - name: acme-on-site
    when:
      tenants: [acme]
    then:
      action: allow
      zones: [site]
`;

function chat(content, extra = {}) {
  return { model: 'audited', messages: [{ role: 'user', content }], ...extra };
}

// A gateway with a strict audit log in `dir`, in front of `upstream`.
function startAudited(dir, keys, upstream, extra = {}) {
  return startWithEvidence(dir, keys, POLICY, {
    tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
    backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited', 'unlisted'], upstreams: [upstream] })],
    ...extra,
  }, { checkpoint_every_ms: 200 });
}

describe('audit log (strict)', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let upstream;
  let gw;
  const sent = []; // { id, status, tenant, rules }
  let captureBody;
  let captureId;
  let deniedCaptureBody;
  let deniedCaptureId;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-itest-'));
    upstream = await Upstream.start({ name: 'audited-upstream', 'echo-last-user': true });
    gw = await startAudited(dir, keys, upstream);
  });

  after(async () => {
    await stopAndRemove(dir, gw, upstream);
  });

  it('answers allowed, streamed and denied requests, each with an X-Request-Id', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await gw.chat(KEY, chat(`Plain question number ${i}.`));
      assert.equal(res.status, 200, res.text);
      sent.push({ id: res.headers['x-request-id'], status: 200, body: res.text });
    }
    for (let i = 0; i < 2; i++) {
      const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: bearerHeader(KEY),
        body: chat(`Streamed question ${i}.`, { stream: true }) });
      assert.equal(res.status, 200);
      assert.equal(res.events.at(-1)?.data, '[DONE]');
      sent.push({ id: res.headers['x-request-id'], status: 200 });
    }
    for (let i = 0; i < 2; i++) {
      const res = await gw.chat(KEY, chat('Here is AKIAIOSFODNN7EXAMPLE for the deploy.'));
      assertError(res, { status: 403, code: 'denied_by_policy' }, 'credential');
      sent.push({ id: res.headers['x-request-id'], status: 403 });
    }
    assert.ok(sent.every((s) => /^\S+$/.test(s.id ?? '')), JSON.stringify(sent));
    assert.equal(new Set(sent.map((s) => s.id)).size, sent.length, 'request ids are unique');
  });

  it('a warn rule changes nothing, is logged, and is marked as not enforced in the decision record', async () => {
    const res = await gw.chat(KEY, chat('Please reply to dana.meyer@example.org today.'));
    assert.equal(res.status, 200, res.text);
    const id = res.headers['x-request-id'];
    sent.push({ id, status: 200, warned: ['watch-emails'] });
    const log = await gw.waitForStderr(new RegExp(`policy_warn_rule_matched.*${id}`), 0, 5000, `the warning for ${id}`);
    const line = log.split('\n').find((l) => l.includes('policy_warn_rule_matched') && l.includes(id));
    assert.ok(line, `a warning naming ${id}: ${gw.stderr.slice(-2000)}`);
    const event = JSON.parse(line);
    assert.equal(event.level, 'warn', line);
    assert.match(event.message, /rule watch-emails \(mode warn, not enforced\) would deny/, line);
    assert.ok(!line.includes('dana.meyer'), 'the log line holds no payload');
  });

  it('requests refused before the policy, and the model list, have their records too', async () => {
    const refusals = [
      { res: await gw.chat('sk-not-a-key', chat('Who am I?')), status: 401, tenant: '', rules: ['authenticate: invalid_api_key'] },
      { res: await gw.api({ method: 'POST', path: '/v1/chat/completions', body: chat('No key at all.') }),
        status: 401, tenant: '', rules: ['authenticate: invalid_api_key'] },
      { res: await gw.api({ key: KEY, method: 'POST', path: '/v1/nowhere', body: chat('Where?') }),
        status: 404, tenant: '', rules: ['authenticate: unknown_url'] },
      { res: await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions', body: '{"model":' }),
        status: 400, tenant: 'acme', rules: ['decode: invalid_json'] },
      { res: await gw.chat(KEY, { ...chat('Not mine.'), model: 'unlisted' }),
        status: 403, tenant: 'acme', rules: ['decide: model_not_permitted'] },
      { res: await gw.api({ key: KEY, method: 'GET', path: '/v1/models' }), status: 200, tenant: 'acme', rules: ['decode'] },
    ];
    for (const { res, status, tenant: who, rules } of refusals) {
      assert.equal(res.status, status, res.text);
      if (status !== 200) assert.equal(res.json.error.code, rules[0].split(': ')[1], res.text);
      sent.push({ id: res.headers['x-request-id'], status, tenant: who, rules });
    }
  });

  it('requests the HTTP layer refuses once their header has arrived have their records too', async () => {
    const head = (extra) => `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
      `Content-Type: application/json\r\n${extra}\r\n`;
    const body = JSON.stringify(chat('Sent as a chunked body with a trailer.'));
    const refusals = [
      // A declared length over limits.max_body_bytes is refused before the body is read.
      { script: (socket) => socket.write(head('Content-Length: 999999999\r\n')), status: 413, code: 'request_too_large', read: '' },
      // Trailer fields after a chunked body are refused once the whole body has arrived.
      { script: (socket) => socket.write(head('Transfer-Encoding: chunked\r\n') +
          `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\nX-Data-Class: public\r\n\r\n`),
        status: 400, code: 'invalid_request', read: body },
    ];
    for (const { script, status, code, read } of refusals) {
      const { response } = await rawExchange({ port: gw.apiPort, script, timeoutMs: 5000 });
      assertError(response, { status, code }, code);
      sent.push({ id: response.headers['x-request-id'], status, tenant: '', rules: [`http: ${code}`], body: response.text,
        payload: sha256Hex(read) });
    }
  });

  it('capture_payload seals the request: the file hides it, audit open returns it byte for byte', async () => {
    captureBody = JSON.stringify(chat(`Re AUDIT-CASE-004711: the customer said "${SECRET_PHRASE}" twice. Ünïcödé ✓`));
    const res = await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions', body: captureBody });
    assert.equal(res.status, 200, res.text);
    captureId = res.headers['x-request-id'];
    sent.push({ id: captureId, status: 200 });

    const captureDir = path.join(dir, 'audit', 'captures');
    const deadline = Date.now() + 10000;
    let files = [];
    while (Date.now() < deadline) {
      files = capturesOf(captureDir, captureId);
      if (files.length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(files.length, 2, `a request and a response capture for ${captureId}: ${JSON.stringify(filesUnder(captureDir))}`);
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      assert.equal(bytes.subarray(0, 8).toString('latin1'), 'SOVCAPT1', file);
      assert.ok(!bytes.includes(Buffer.from(SECRET_PHRASE)), `${file} holds the plaintext`);
      assert.ok(!bytes.includes(Buffer.from('AUDIT-CASE-004711')), `${file} holds the plaintext`);
    }
    const requestFile = files.find((f) => /request/.test(path.basename(f)));
    assert.ok(requestFile, JSON.stringify(files));
    const opened = await runCli(['audit', 'open', '--secret-key', keys.auditorKey, requestFile]);
    assert.equal(opened.code, 0, opened.output);
    assert.equal(opened.stdout, captureBody, 'the opened capture is the exact request body');
    assert.match(opened.stderr, new RegExp(`request ${captureId}, request`), opened.stderr);

    const responseFile = files.find((f) => f !== requestFile);
    const openedResponse = await runCli(['audit', 'open', '--secret-key', keys.auditorKey, responseFile]);
    assert.equal(openedResponse.code, 0, openedResponse.output);
    assert.ok(openedResponse.stdout.length > 0, 'the response capture holds the response body');

    // Without the auditor's key nothing opens: the vault key is not it.
    const wrong = await runCli(['audit', 'open', '--secret-key', keys.vaultKey, requestFile]);
    assert.notEqual(wrong.code, 0, wrong.output);
    assert.ok(!wrong.stdout.includes(SECRET_PHRASE), wrong.stdout);
  });

  // The attempt is evidence too: a rule that asks for captures seals a request the policy refuses,
  // before it is refused, and the records say so (the decision's "capture", the outcome's file).
  it('a denied request that a capturing rule matches is sealed before the client gets its 403', async () => {
    deniedCaptureBody = JSON.stringify(chat(`Re AUDIT-CASE-004712: the key AKIAIOSFODNN7EXAMPLE, "${SECRET_PHRASE}".`));
    const before = await upstream.settledRequestCount();
    const res = await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions', body: deniedCaptureBody });
    assertError(res, { status: 403, code: 'denied_by_policy' }, 'a credential in a captured request');
    deniedCaptureId = res.headers['x-request-id'];
    sent.push({ id: deniedCaptureId, status: 403, body: res.text,
      rules: ['no-credentials', 'capture-audit-cases', 'acme-on-site'] });

    const captureDir = path.join(dir, 'audit', 'captures');
    const files = capturesOf(captureDir, deniedCaptureId);
    assert.equal(files.length, 1, `the request's capture, written before the answer: ${JSON.stringify(filesUnder(captureDir))}`);
    assert.match(path.basename(files[0]), /-request-/);
    assert.ok(!fs.readFileSync(files[0]).includes(Buffer.from('AKIAIOSFODNN7EXAMPLE')), 'the capture hides the key');
    const opened = await runCli(['audit', 'open', '--secret-key', keys.auditorKey, files[0]]);
    assert.equal(opened.code, 0, opened.output);
    assert.equal(opened.stdout, deniedCaptureBody, 'the opened capture is the exact body that was refused');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(upstream.requests().length, before, 'nothing of the denied request reached the upstream');
  });

  it('after SIGTERM every request has a decision and an outcome record, and audit verify passes', async () => {
    assert.equal(sent.length, 21, 'the requests above ran');
    const status = await gw.process.stop(15000);
    assert.equal(status.code, 0, gw.process.describe());
    const counts = await assertAuditValid(path.join(dir, 'audit'), keys.signingPub, { requireClosed: true });
    assert.equal(counts.records[1], 2 * sent.length, `two records per request, ${sent.length} requests`);
    const records = await auditQuery(path.join(dir, 'audit'));
    for (const { id, status: expected, tenant: who = 'acme', rules, warned, body, payload } of sent) {
      const { decision, outcome } = recordsOf(records, id);
      assert.equal(decision.length, 1, `decision record of ${id}`);
      assert.equal(outcome.length, 1, `outcome record of ${id}`);
      assert.ok(decision[0].leaf < outcome[0].leaf, `decision of ${id} before its outcome`);
      assert.equal(decision[0].decision, expected === 200 ? 'allow' : 'deny', JSON.stringify(decision[0]));
      assert.equal(outcome[0].status, expected, JSON.stringify(outcome[0]));
      assert.equal(decision[0].tenant, who, JSON.stringify(decision[0]));
      if (rules) assert.deepEqual(decision[0].rules, rules, JSON.stringify(decision[0]));
      if (body !== undefined) assert.equal(outcome[0].response_sha256, sha256Hex(body), 'the digest of the answer as received');
      if (payload !== undefined) assert.equal(decision[0].payload_sha256, payload, 'the digest of the body as far as it arrived');
      if (warned) {
        assert.deepEqual(decision[0].warn_rules, warned, JSON.stringify(decision[0]));
        assert.ok(decision[0].rules.includes(warned[0]), 'a warn rule is listed among the matched rules');
      } else {
        assert.equal(decision[0].warn_rules, undefined, JSON.stringify(decision[0]));
      }
    }
    const capture = recordsOf(records, captureId);
    assert.equal(capture.decision[0].capture, true, JSON.stringify(capture.decision[0]));
    assert.ok(capture.decision[0].rules.includes('capture-audit-cases'), JSON.stringify(capture.decision[0]));
    assert.equal(capture.decision[0].payload_sha256, sha256Hex(captureBody),
      'the decision record holds the digest of the captured body');
    const denied = recordsOf(records, deniedCaptureId);
    assert.equal(denied.decision[0].capture, true, JSON.stringify(denied.decision[0]));
    assert.equal(denied.outcome[0].captures?.length, 1, JSON.stringify(denied.outcome[0]));
    assert.match(denied.outcome[0].captures[0], new RegExp(`${deniedCaptureId}-request-`), JSON.stringify(denied.outcome[0]));
    assert.equal(denied.outcome[0].captures_failed, undefined, JSON.stringify(denied.outcome[0]));
    assert.ok(!JSON.stringify(records).includes(SECRET_PHRASE), 'no record holds a payload');
  });
});

describe('audit log survives kill -9 under load', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let upstream;
  let gw;
  let restarted;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-crash-'));
    upstream = await Upstream.start({ name: 'crash-upstream', 'first-byte-delay-ms': 2 });
    gw = await startAudited(dir, keys, upstream);
  });

  after(async () => {
    await stopAndRemove(dir, gw, restarted, upstream);
  });

  it('every request answered 2xx before the kill has its decision and outcome records, and the log verifies', async (t) => {
    const total = 200;
    const inFlight = 8;
    const killAfter = 100;
    const results = [];
    let next = 0;
    let completed = 0;
    let killed = false;
    const worker = async () => {
      while (next < total) {
        const n = next++;
        try {
          const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions',
            headers: bearerHeader(KEY), body: chat(`Load request ${n}.`), timeoutMs: 10000 });
          results.push({ n, status: res.status, id: res.headers['x-request-id'] });
        } catch (err) {
          results.push({ n, error: err.code ?? err.message });
        }
        completed++;
        if (!killed && completed >= killAfter) {
          killed = true;
          gw.process.signal('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    await gw.process.exited;
    assert.equal(gw.process.exitSignal, 'SIGKILL', 'the gateway was killed, not stopped');

    const ok = results.filter((r) => r.status >= 200 && r.status < 300);
    const failed = results.filter((r) => r.error);
    assert.ok(ok.length >= killAfter - inFlight, `most requests before the kill succeeded: ${ok.length}`);
    assert.ok(failed.length > 0, 'requests after the kill failed (the kill happened mid-way)');
    assert.ok(results.filter((r) => r.status !== undefined).every((r) => r.status === 200),
      JSON.stringify(results.filter((r) => r.status !== undefined && r.status !== 200)));

    const auditDir = path.join(dir, 'audit');
    const verify = await auditVerify(auditDir, keys.signingPub);
    assert.equal(verify.code, 0, `audit verify after kill -9:\n${verify.output}`);
    assert.ok(verify.counts, verify.output);
    assert.equal(verify.counts.segments[0], verify.counts.segments[1], verify.output);
    assert.equal(verify.counts.checkpoints[0], verify.counts.checkpoints[1], verify.output);
    const records = await auditQuery(auditDir);
    const missing = ok.filter((r) => recordsOf(records, r.id).decision.length !== 1);
    assert.deepEqual(missing, [], `answered 2xx but without exactly one decision record (${ok.length} answered)`);
    // Strict durability holds the end of every answer until its outcome record is on disk.
    const noOutcome = ok.filter((r) => recordsOf(records, r.id).outcome.length !== 1);
    assert.deepEqual(noOutcome, [], `answered 2xx but without exactly one outcome record (${ok.length} answered)`);
    for (const r of ok.slice(0, 5)) {
      const outcome = recordsOf(records, r.id).outcome[0];
      assert.equal(outcome.status, 200, JSON.stringify(outcome));
      assert.equal(outcome.backend, 'site-be', JSON.stringify(outcome));
      assert.match(outcome.response_sha256, /^[0-9a-f]{64}$/, JSON.stringify(outcome));
    }
    t.diagnostic(`kill -9 after ${killAfter} of ${total} requests (${inFlight} in flight): ${ok.length} answered 2xx, ` +
      `${failed.length} failed, ${records.length} records on disk; verify: ${verify.stdout.trim().replace(/\n/g, ' | ')}`);

    // A restart on the same log recovers it and signs what it found; then it closes cleanly.
    restarted = await startAudited(dir, keys, upstream);
    const res = await restarted.chat(KEY, chat('After the crash.'));
    assert.equal(res.status, 200, res.text);
    const status = await restarted.process.stop(15000);
    assert.equal(status.code, 0, restarted.process.describe());
    const counts = await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
    // Outcome records are appended after the answer was sent, so kill -9 may lose some of them;
    // decision records were on disk before anything was forwarded, and nothing is lost on restart.
    const after = await auditQuery(auditDir);
    assert.equal(counts.records[1], after.length, 'after a clean stop every record is covered by a checkpoint');
    assert.deepEqual(after.slice(0, records.length), records, 'the restart kept every record written before the kill');
    const afterCrash = recordsOf(after, res.headers['x-request-id']);
    assert.equal(afterCrash.decision.length, 1, 'the request after the restart has its decision record');
    assert.equal(afterCrash.outcome.length, 1, 'the request after the restart has its outcome record');
  });
});

describe('audit log cannot be written', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let upstream;
  let proc;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-unwritable-'));
    upstream = await Upstream.start({ name: 'unwritable-upstream' });
  });

  after(async () => {
    await proc?.stop(5000);
    await upstream?.stop();
    if (dir) {
      // The non-root variant made the audit directory read-only; give rm back its access.
      if (fs.existsSync(path.join(dir, 'audit'))) fs.chmodSync(path.join(dir, 'audit'), 0o700);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the gateway refuses to start or answers 503 audit_unavailable, and nothing reaches the upstream', async (t) => {
    // chmod 0500 stops no root process, so as root the audit directory is placed under a regular file.
    let auditDir;
    if (process.getuid?.() === 0) {
      const blocker = path.join(dir, 'not-a-directory');
      fs.writeFileSync(blocker, 'a file where the audit log directory should be\n');
      auditDir = path.join(blocker, 'audit');
    } else {
      auditDir = path.join(dir, 'audit');
      fs.mkdirSync(auditDir);
      fs.chmodSync(auditDir, 0o500);
    }
    const { configPath, ports } = await writeServeConfig(dir, 'gateway', {
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir),
      access_log: 'stderr',
    });
    proc = new TrackedProcess(gatewayBin(), ['serve', '--config', configPath], { cwd: dir });
    // Either it exits, or it becomes ready and must then refuse every request.
    const deadline = Date.now() + 20000;
    let ready = false;
    while (Date.now() < deadline && proc.running && !ready) {
      try {
        ready = (await request({ port: ports.admin, path: '/readyz', timeoutMs: 1000 })).status === 200;
      } catch {
        // not listening yet
      }
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    if (!proc.running) {
      assert.notEqual(proc.exitCode, 0, proc.describe());
      assert.match(proc.stderr, /startup_failed/, proc.describe());
      // At the setting at fault, as `config check` reports it: audit.directory.
      const at = configPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(proc.stderr, new RegExp(`${at}:\\d+:\\d+: audit(\\.directory| log)`), proc.describe());
      t.diagnostic(`refused to start: ${proc.stderr.split('\n').find((l) => l.includes('startup_failed'))}`);
    } else {
      assert.ok(ready, `neither ready nor exited within 20 s\n${proc.describe()}`);
      const res = await request({ port: ports.api, method: 'POST', path: '/v1/chat/completions',
        headers: bearerHeader(KEY), body: chat('Is anyone writing this down?') });
      assertError(res, { status: 503, code: 'audit_unavailable' }, `unwritable audit log\n${proc.describe()}`);
      t.diagnostic(`started, then refused: ${res.json.error.message}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(upstream.requests(), [], 'nothing reached the upstream');
  });

  // At run time: the writer must open its next segment (segments rotate at 64 KiB here) where a
  // regular file now stands in for the audit directory, which stops root as well as anyone else.
  it('a log that becomes unwritable while serving gives 503 audit_unavailable, and nothing more is forwarded', async (t) => {
    const runDir = path.join(dir, 'runtime');
    fs.mkdirSync(runDir);
    const auditDir = path.join(runDir, 'audit');
    const gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir, { segment_max_bytes: 65536, checkpoint_every_ms: 200 }),
    });
    try {
      const first = await gw.chat(KEY, chat('Before the disk went away.'));
      assert.equal(first.status, 200, first.text);
      fs.renameSync(auditDir, `${auditDir}.moved`);
      fs.writeFileSync(auditDir, 'a file where the audit log directory should be\n');

      let refused;
      let answered = 1;
      for (let i = 0; i < 400 && !refused; i++) {
        const res = await gw.chat(KEY, chat(`Request ${i} while the log fills its segment.`));
        if (res.status === 200) answered++;
        else refused = res;
      }
      assert.ok(refused, `no request was refused after ${answered} answers\n${gw.describe()}`);
      assertError(refused, { status: 503, code: 'audit_unavailable' }, 'unwritable audit log at run time');
      assert.match(refused.json.error.message, /segment-000002\.log/, refused.json.error.message);
      t.diagnostic(`refused after ${answered} answered requests: ${refused.json.error.message}`);
      // A load balancer polling readiness takes the gateway out of rotation, and learns why.
      const readyz = await gw.admin('/readyz');
      assert.equal(readyz.status, 503, readyz.text);
      assert.equal(readyz.json.status, 'not ready', readyz.text);
      assert.match(readyz.json.reason, /audit log cannot be written.*segment-000002\.log/, readyz.text);
      // The operator's log says so once, when it happened, not once per refused request.
      const unwritable = gw.stderr.split('\n').filter((line) => line.includes('"event":"audit_unwritable"'));
      assert.equal(unwritable.length, 1, gw.stderr);
      assert.match(JSON.parse(unwritable[0]).message, /segment-000002\.log/);

      const forwarded = await upstream.settledRequestCount();
      for (let i = 0; i < 5; i++) {
        const res = await gw.chat(KEY, chat(`After the failure ${i}.`));
        assertError(res, { status: 503, code: 'audit_unavailable' }, `request ${i} after the failure`);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(upstream.requests().length, forwarded, 'nothing was forwarded once the log could not be written');

      // A failed rotation is a failure like any other: once the next segment can be created (the
      // disk has room again), the timed checkpoint creates it and the gateway serves again.
      fs.rmSync(auditDir);
      fs.renameSync(`${auditDir}.moved`, auditDir);
      const deadline = Date.now() + 5000;
      let ready;
      do {
        await new Promise((r) => setTimeout(r, 100));
        ready = await gw.admin('/readyz');
      } while (ready.status !== 200 && Date.now() < deadline);
      assert.equal(ready.status, 200, `still not ready once the segment could be created: ${ready.text}`);
      const recovered = await gw.chat(KEY, chat('After the disk came back.'));
      assert.equal(recovered.status, 200, recovered.text);
      assert.ok(gw.stderr.includes('"event":"audit_writable"'), gw.stderr);
    } finally {
      await gw.stop();
    }
    // What was written before the failure, and after it, is intact.
    const counts = await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
    assert.equal(counts.segments[1], 2, 'the segment that could not be created at first, and no other');
  });
});

// Sealed captures are evidence: each is written (in strict durability, synced) before what it
// captures goes on (the request to the backend, the answer's end to the client), or the client
// gets 503 capture_unavailable; the outcome record names only the files written and says which
// part failed. Every outcome record digests the body its client got, the gateway's own error
// answers included.
// In relaxed durability an answer is sent before its outcome record is written, so a record that
// then cannot be written can no longer change the answer: the operator's log must name the request,
// or the auditor finds a decision record without an outcome and cannot tell why.
describe('an outcome record lost after its answer was sent (relaxed)', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let slow;
  let gw;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-lost-outcome-'));
    // The answer comes 5 s after the request: long after the segment (age limit 3 s) must rotate.
    slow = await Upstream.start({ name: 'slow-upstream', 'first-byte-delay-ms': 5000 });
  });

  after(async () => {
    await stopAndRemove(dir, gw, slow);
  });

  it('is named in the log as outcome_not_recorded, with its request id', async () => {
    const auditDir = path.join(dir, 'audit');
    gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'slow-be', zone: 'site', models: ['audited'], upstreams: [slow],
        timeout_ms: 20000 })],
      ...evidenceSections(keys, auditDir, { durability: 'relaxed', segment_max_age_ms: 3000, checkpoint_every_ms: 200 }),
    });
    const answer = gw.chat(KEY, chat('An answer that takes its time.'));
    await slow.waitForRequests(1);  // its decision record is written: it was forwarded
    // The next segment cannot be created (a regular file stands where the directory was), so the
    // rotation by age fails before the answer arrives, and the outcome record after it too.
    fs.renameSync(auditDir, `${auditDir}.moved`);
    fs.writeFileSync(auditDir, 'a file where the audit log directory should be\n');
    const res = await answer;
    assert.equal(res.status, 200, res.text);
    const id = res.headers['x-request-id'];
    const log = await gw.waitForStderr(new RegExp(`"event":"outcome_not_recorded".*${id}`), 0, 10000,
      `the lost outcome record of ${id}`);
    const line = log.split('\n').find((l) => l.includes('"event":"outcome_not_recorded"') && l.includes(id));
    assert.match(JSON.parse(line).message, /segment-000002\.log/, line);
    assert.match(JSON.parse(line).message, /decision record without an outcome record/, line);

    fs.rmSync(auditDir);
    fs.renameSync(`${auditDir}.moved`, auditDir);
    await gw.stop();
    gw = null;
    // The log holds the request's decision record and, as the log line said, no outcome record.
    await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
    const { decision, outcome } = recordsOf(await auditQuery(auditDir), id);
    assert.equal(decision.length, 1, `decision record of ${id}`);
    assert.equal(outcome.length, 0, `outcome record of ${id}`);
  });
});

describe('sealed captures, and the answers the gateway writes itself', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let gw;
  const up = {};
  const seen = {};  // name -> { id, res }
  let captureDir;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-captures-'));
    captureDir = path.join(dir, 'audit', 'captures');
    up.echo = await Upstream.start({ name: 'cap-echo', 'echo-last-user': true });
    up.fails = await Upstream.start({ name: 'cap-500', status: 500 });
    up.dies = await Upstream.start({ name: 'cap-dies', 'die-before-response': true });
    up.gzip = await Upstream.start({ name: 'cap-gzip', 'answer-as': 'gzip' });
    up.slow = await Upstream.start({ name: 'cap-slow', 'first-byte-delay-ms': 1500 });
    const models = { echo: 'audited', fails: 'fails', dies: 'dies', gzip: 'gzipped', slow: 'slow' };
    gw = await startWithEvidence(dir, keys, POLICY, {
      tenants: [tenant({ name: 'acme', keys: [KEY], models: Object.values(models) })],
      backends: Object.entries(models).map(([name, model]) =>
        openaiBackend({ name: `${name}-be`, zone: 'site', models: [model], upstreams: [up[name]] })),
    }, { checkpoint_every_ms: 200 });
  });

  after(async () => {
    await stopAndRemove(dir, gw, ...Object.values(up));
  });

  const ask = (name, model, content, extra = {}) =>
    gw.chat(KEY, { model, messages: [{ role: 'user', content }], ...extra }).then((res) => {
      seen[name] = { id: res.headers['x-request-id'], res };
      return res;
    });
  const open = (file) => runCli(['audit', 'open', '--secret-key', keys.auditorKey, file]);

  it('both captures are on disk when the answer arrives, and the response capture is the answer as sent', async () => {
    const res = await ask('whole', 'audited', 'Re AUDIT-CASE-000001: a whole answer, please.');
    assert.equal(res.status, 200, res.text);
    // No waiting: the request's capture was written before it was forwarded, the response's
    // before the answer was sent.
    const files = capturesOf(captureDir, seen.whole.id);
    assert.equal(files.length, 2, JSON.stringify(filesUnder(captureDir)));
    const response = files.find((f) => path.basename(f).includes('-response-'));
    const opened = await open(response);
    assert.equal(opened.code, 0, opened.output);
    assert.equal(opened.stdout, res.text, 'the response capture holds what the client got');

    const streamed = await ask('stream', 'audited', 'Re AUDIT-CASE-000002: stream it.', { stream: true });
    assert.equal(streamed.status, 200, streamed.text);
    assert.ok(streamed.text.endsWith('data: [DONE]\n\n'), streamed.text);
    const streamFiles = capturesOf(captureDir, seen.stream.id);
    assert.equal(streamFiles.length, 2, JSON.stringify(filesUnder(captureDir)));
    const streamOpened = await open(streamFiles.find((f) => path.basename(f).includes('-response-')));
    assert.equal(streamOpened.stdout, streamed.text, 'the stream as the client got it, [DONE] included');
  });

  it('error answers the gateway writes itself are digested, and captured where the policy asks', async () => {
    for (const [name, model] of [['fails', 'fails'], ['dies', 'dies'], ['gzip', 'gzipped']]) {
      const res = await ask(name, model, `Re AUDIT-CASE-00000${name.length}: will this work?`);
      assert.equal(res.status, 502, `${model}: ${res.text}`);
      const response = capturesOf(captureDir, seen[name].id).find((f) => path.basename(f).includes('-response-'));
      assert.ok(response, `${model}: no response capture: ${JSON.stringify(filesUnder(captureDir))}`);
      assert.equal((await open(response)).stdout, res.text, `${model}: the capture is the error the client got`);
    }
    const plain = await ask('plain-fail', 'fails', 'Nothing to capture here.');
    assert.equal(plain.status, 502, plain.text);
  });

  it('a request whose capture cannot be written is refused with 503 capture_unavailable and never forwarded', async () => {
    const restore = blockCaptures(captureDir);
    try {
      const before = await up.echo.settledRequestCount();
      const res = await ask('no-request-capture', 'audited', 'Re AUDIT-CASE-000003: seal me if you can.');
      assertError(res, { status: 503, code: 'capture_unavailable' }, 'request capture failed');
      assert.match(res.json.error.message, /sealed copy of this request .* nothing is forwarded/, res.text);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(up.echo.requests().length, before, 'nothing reached the backend');
      assert.match(gw.stderr, new RegExp(`"event":"capture_failed".*${seen['no-request-capture'].id} request`));
      const metrics = await gw.metrics();
      assert.equal(metrics.value('sovereign_capture_failures_total', { part: 'request' }), 1, metrics.text);
      assert.equal(metrics.value('sovereign_capture_failures_total', { part: 'response' }), 0, metrics.text);
      // Requests the policy does not capture are served meanwhile.
      assert.equal((await ask('uncaptured', 'audited', 'No case number here.')).status, 200);
    } finally {
      restore();
    }
  });

  it("an answer whose capture cannot be written is withheld: 503, or an error event in place of [DONE]", async () => {
    for (const stream of [false, true]) {
      const name = stream ? 'no-stream-capture' : 'no-response-capture';
      const before = up.slow.requests().length;
      const pending = ask(name, 'slow', `Re AUDIT-CASE-00000${stream ? 5 : 4}: slowly.`, stream ? { stream: true } : {});
      await up.slow.waitForRequests(before + 1);
      const restore = blockCaptures(captureDir);
      try {
        const res = await pending;
        if (!stream) {
          assertError(res, { status: 503, code: 'capture_unavailable' }, 'response capture failed');
          assert.match(res.json.error.message, /sealed copy of this answer .* the answer is withheld/, res.text);
        } else {
          assert.equal(res.status, 200, res.text);
          assert.ok(!res.text.includes('[DONE]'), res.text);
          const last = res.text.trim().split('\n\n').at(-1);
          assert.equal(JSON.parse(last.replace(/^data: /, '')).error.code, 'capture_unavailable', res.text);
        }
      } finally {
        restore();
      }
    }
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_capture_failures_total', { part: 'response' }), 2, metrics.text);
  });

  it('outcome records name only the captures written, say which failed, and digest what each client got', async () => {
    await stopGracefully(gw);
    await assertAuditValid(path.join(dir, 'audit'), keys.signingPub, { requireClosed: true });
    const records = await auditQuery(path.join(dir, 'audit'));
    const outcome = (name) => {
      const { outcome: found } = recordsOf(records, seen[name].id);
      assert.equal(found.length, 1, `${name}: ${JSON.stringify(found)}`);
      return found[0];
    };
    for (const [name, { res }] of Object.entries(seen)) {
      assert.equal(outcome(name).response_sha256, sha256Hex(res.text), `${name}: the digest of the body the client got`);
      for (const file of outcome(name).captures ?? []) {
        assert.ok(fs.existsSync(path.join(captureDir, file)), `${name}: ${file} is named but not there`);
      }
    }
    for (const name of ['whole', 'stream', 'fails', 'dies', 'gzip']) {
      assert.deepEqual(outcome(name).captures.sort(), capturesOf(captureDir, seen[name].id).map((f) => path.basename(f)).sort(), name);
      assert.equal(outcome(name).captures_failed, undefined, name);
    }
    assert.deepEqual([outcome('fails').error, outcome('dies').error, outcome('gzip').error],
      ['upstream_error', 'upstream_error', 'response_check_failed']);
    assert.equal(outcome('plain-fail').captures, undefined);
    const refused = outcome('no-request-capture');
    assert.deepEqual([refused.status, refused.error, refused.captures, refused.captures_failed],
      [503, 'capture_unavailable', undefined, ['request']], JSON.stringify(refused));
    for (const name of ['no-response-capture', 'no-stream-capture']) {
      const withheld = outcome(name);
      assert.deepEqual([withheld.status, withheld.error, withheld.captures_failed], [503, 'capture_unavailable', ['response']],
        JSON.stringify(withheld));
      assert.equal(withheld.captures.length, 1, JSON.stringify(withheld));
      assert.match(withheld.captures[0], /-request-/, JSON.stringify(withheld));
    }
  });
});

describe('sealed captures survive kill -9 (strict)', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let upstream;
  let gw;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-capture-crash-'));
    upstream = await Upstream.start({ name: 'capture-crash-upstream' });
    gw = await startAudited(dir, keys, upstream, { limits: { max_body_bytes: 8 * 1024 * 1024 } });
  });

  after(async () => {
    await stopAndRemove(dir, gw, upstream);
  });

  it('after a 200 for a 7 MB captured request and kill -9, the durable outcome record names captures that exist', async () => {
    const body = JSON.stringify(chat(`Re AUDIT-CASE-000007: ${'x'.repeat(7 * 1024 * 1024)}`));
    const res = await gw.api({ key: KEY, method: 'POST', path: '/v1/chat/completions', body, timeoutMs: 60000 });
    assert.equal(res.status, 200, res.text);
    gw.process.signal('SIGKILL');
    await gw.process.exited;
    const id = res.headers['x-request-id'];
    const records = await auditQuery(path.join(dir, 'audit'));
    const { decision, outcome } = recordsOf(records, id);
    assert.equal(outcome.length, 1, 'strict: the outcome record was on disk before the answer');
    assert.equal(outcome[0].captures?.length, 2, JSON.stringify(outcome[0]));
    const captureDir = path.join(dir, 'audit', 'captures');
    for (const file of outcome[0].captures) assert.ok(fs.existsSync(path.join(captureDir, file)), file);
    const request = path.join(captureDir, outcome[0].captures.find((f) => f.includes('-request-')));
    const opened = await runCli(['audit', 'open', '--secret-key', keys.auditorKey, request], { timeoutMs: 60000 });
    assert.equal(opened.code, 0, opened.output.slice(0, 2000));
    assert.equal(sha256Hex(opened.stdout), decision[0].payload_sha256, 'the request capture is the body the decision digests');
  });
});

describe('a policy asking for captures with no auditor key to seal them to', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let upstream;
  let gw;

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-no-auditor-'));
    upstream = await Upstream.start({ name: 'no-auditor-upstream' });
  });

  after(async () => {
    await stopAndRemove(dir, gw, upstream);
  });

  it('is refused at start and at reload, where the previous policy keeps serving', async () => {
    const policyFile = path.join(dir, 'policy.yaml');
    const withoutCapture = POLICY.replace(/  - name: capture-audit-cases\n(.*\n){4}\n/, '');
    assert.ok(!withoutCapture.includes('capture_payload'), withoutCapture);
    const config = {
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      policy: policyFile,
      ...evidenceSections(keys, path.join(dir, 'audit')),
    };
    delete config.audit.auditor_public_key;
    fs.writeFileSync(policyFile, POLICY);
    await assert.rejects(Gateway.start(config), (error) => {
      assert.match(String(error.message), /startup_failed.*gateway\.yaml:\d+:\d+: audit: the policy's rule 'capture-audit-cases' \(.*policy\.yaml:\d+:\d+\) asks for capture_payload, but audit\.auditor_public_key is not set/);
      return true;
    });

    fs.writeFileSync(policyFile, withoutCapture);
    gw = await Gateway.start(config);
    assert.equal((await gw.chat(KEY, chat('Re AUDIT-CASE-000008: before.'))).status, 200);
    fs.writeFileSync(policyFile, POLICY);
    await gw.waitForStderr(/"event":"reload_rejected".*asks for capture_payload/, 0, 10000, 'the rejected policy');
    const res = await gw.chat(KEY, chat('Re AUDIT-CASE-000009: after.'));
    assert.equal(res.status, 200, res.text);
  });
});
