// A gateway whose audit log cannot be closed at shutdown (a full disk, a file-size limit) must say
// so before its last line and exit non-zero: a supervisor (systemd) reads only the exit status, and
// an auditor must learn that the last segment was left without its final checkpoint.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { initKeys, evidenceSections, auditVerify } from './lib/evidence.mjs';

const KEY = 'sk-shutdown-acme';
// Exit status of a drain after which the audit log could not be closed (docs/OPERATIONS.md).
const EXIT_AUDIT_NOT_CLOSED = 3;

const chat = (content) => ({ model: 'audited', messages: [{ role: 'user', content }] });

describe('shutdown with an audit log that can no longer be written', { timeout: 60000 }, () => {
  let dir;
  let keys;
  let upstream;

  before(async () => {
    dir = tempDir('sovereign-audit-shutdown-');
    keys = await initKeys(path.join(dir, 'keys'));
    upstream = await Upstream.start({ name: 'shutdown-upstream' });
  });

  after(async () => {
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = (auditDir, limits) => Gateway.start({
    tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
    backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
    // Timed checkpoints every 10 ms fill the segment up to the file-size limit (64 KiB: a few seconds,
    // long after the first request), so the final checkpoint (a frame of the same size) cannot fit
    // either: a full disk, deterministically.
    ...evidenceSections(keys, auditDir, { checkpoint_every_ms: 10 }),
  }, limits);

  it('logs audit_not_closed before its last line and exits with status 3', async () => {
    const auditDir = path.join(dir, 'full');
    const gw = await start(auditDir, { fileSizeLimit: 65536 });
    let status;
    try {
      const first = await gw.chat(KEY, chat('Before the disk filled up.'));
      assert.equal(first.status, 200, first.text);
      await gw.waitForStderr(/"event":"audit_unwritable"/, 0, 20000, 'the segment reaching the file-size limit');
    } finally {
      status = await gw.stop();
    }
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: EXIT_AUDIT_NOT_CLOSED, signal: null },
      gw.describe());
    const lines = gw.stderr.trim().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    const last = lines.at(-1);
    assert.equal(last.event, 'stopped', gw.describe());
    assert.match(last.message, /exiting with status 3/, gw.describe());
    const notClosed = lines.findIndex((line) => line.event === 'audit_not_closed');
    assert.ok(notClosed >= 0, `no audit_not_closed line\n${gw.describe()}`);
    assert.equal(lines[notClosed].level, 'error');
    assert.match(lines[notClosed].message, /segment-000001\.log/, lines[notClosed].message);
    // Everything the log says about itself comes before the last line, none after it.
    assert.ok(lines.findLastIndex((line) => String(line.event).startsWith('audit_')) < lines.length - 1, gw.describe());
    // What it says is true: the log verifies as far as it goes, but is not closed.
    const closed = await auditVerify(auditDir, keys.signingPub, { requireClosed: true });
    assert.notEqual(closed.code, 0, closed.output);
    const open = await auditVerify(auditDir, keys.signingPub);
    assert.equal(open.code, 0, open.output);
  });

  it('exits 0 after a shutdown that closed the log', async () => {
    const auditDir = path.join(dir, 'roomy');
    const gw = await start(auditDir, {});
    const answered = await gw.chat(KEY, chat('Plenty of room.'));
    assert.equal(answered.status, 200, answered.text);
    const status = await gw.stop();
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null }, gw.describe());
    assert.ok(!gw.stderr.includes('audit_not_closed'), gw.describe());
    const closed = await auditVerify(auditDir, keys.signingPub, { requireClosed: true });
    assert.equal(closed.code, 0, closed.output);
  });
});
