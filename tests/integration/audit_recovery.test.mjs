// What the gateway does at start-up with an audit log that was damaged or tampered with while it was
// down, as opposed to one a crash left behind: a record frame's length altered (which looks like a
// partial last frame, yet the log goes on after it) and records altered under checkpoints whose roots
// were recomputed without the key are refused, naming the segment and offset, with nothing cut or
// signed; a real torn last frame is cut, and its bytes are kept in a quarantine file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, gatewayBin, runCli, stopAndRemove } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { TrackedProcess } from './lib/processes.mjs';
import { evidenceDir, writeServeConfig, evidenceSections, assertAuditValid, auditVerify, stopGracefully } from './lib/evidence.mjs';

const KEY = 'sk-audit-recovery-acme';
const SEGMENT = 'segment-000001.log';
const MAGIC_SIZE = 8;

function chat(content) {
  return { model: 'audited', messages: [{ role: 'user', content }] };
}

// The frames of a segment: tag, offset of the tag byte, payload length (whole frames only).
function framesOf(bytes) {
  const frames = [];
  let offset = MAGIC_SIZE;
  while (offset + 5 <= bytes.length) {
    const length = bytes.readUInt32LE(offset + 1);
    if (offset + 5 + length > bytes.length) break;
    frames.push({ tag: String.fromCharCode(bytes[offset]), offset, length });
    offset += 5 + length;
  }
  return frames;
}

const sha256 = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const leafHash = (record) => sha256(Buffer.from([0]), record);
const nodeHash = (left, right) => sha256(Buffer.from([1]), left, right);

// Rewrites the root of every checkpoint of segment 1 (which starts from an empty tree) to the one
// its records give now, leaving the signatures as they were: all that someone who can write the
// audit directory, but does not hold the signing key, can do to make altered records match.
function recomputeCheckpointRoots(bytes) {
  const stack = [];  // [size, hash] of the perfect subtrees, largest first
  for (const frame of framesOf(bytes)) {
    const payload = bytes.subarray(frame.offset + 5, frame.offset + 5 + frame.length);
    if (frame.tag === 'R') {
      stack.push([1, leafHash(payload)]);
      while (stack.length > 1 && stack.at(-1)[0] === stack.at(-2)[0]) {
        const [[size, left], [, right]] = stack.splice(-2);
        stack.push([2 * size, nodeHash(left, right)]);
      }
    } else if (frame.tag === 'C') {
      let root = stack.at(-1)[1];
      for (let i = stack.length - 2; i >= 0; i--) root = nodeHash(stack[i][1], root);
      root.copy(bytes, frame.offset + 5 + 16 + 8);  // after the log id and the tree size
    }
  }
}

describe('audit log recovery at start-up', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let upstream;
  let pristine;  // a closed log of 20 requests, copied for each case

  // A gateway.yaml for an audit log in `auditDir`, on free ports.
  async function writeConfig(name, auditDir) {
    const { configPath } = await writeServeConfig(dir, name, {
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir, { checkpoint_every_records: 5 }),
    });
    return configPath;
  }

  // Starts the gateway on `auditDir` and expects it to exit with a start-up failure; returns its stderr.
  async function expectRefusedStart(name, auditDir) {
    const configPath = await writeConfig(name, auditDir);
    const proc = new TrackedProcess(gatewayBin(), ['serve', '--config', configPath], { cwd: dir });
    const timer = setTimeout(() => proc.signal('SIGKILL'), 20000);
    const { code } = await proc.exited;
    clearTimeout(timer);
    assert.notEqual(code, 0, proc.describe());
    assert.match(proc.stderr, /startup_failed/, proc.describe());
    return proc.stderr;
  }

  function copyOfLog(name) {
    const copy = path.join(dir, name);
    fs.cpSync(pristine, copy, { recursive: true });
    fs.rmSync(path.join(copy, '.writer.lock'), { force: true });
    return copy;
  }

  before(async () => {
    ({ dir, keys } = await evidenceDir('sovereign-audit-recovery-'));
    upstream = await Upstream.start({ name: 'recovery-upstream' });
    pristine = path.join(dir, 'pristine');
    const gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, pristine, { checkpoint_every_records: 5 }),
    });
    for (let i = 0; i < 20; i++) {
      const res = await gw.chat(KEY, chat(`Request ${i}.`));
      assert.equal(res.status, 200, res.text);
    }
    await stopGracefully(gw);
    fs.rmSync(gw.dir, { recursive: true, force: true });
    await assertAuditValid(pristine, keys.signingPub, { requireClosed: true });
  });

  after(async () => {
    await stopAndRemove(dir, upstream);
  });

  it('one flipped bit in a record frame\'s length: verify, query and the gateway say the log is damaged there, and nothing is cut', async () => {
    const auditDir = copyOfLog('bitflip');
    const segment = path.join(auditDir, SEGMENT);
    const bytes = fs.readFileSync(segment);
    const frames = framesOf(bytes);
    const flipped = frames.filter((f) => f.tag === 'R')[5];
    bytes[flipped.offset + 3] ^= 1;  // length + 65,536: past the end of the file
    fs.writeFileSync(segment, bytes);

    const verify = await auditVerify(auditDir, keys.signingPub);
    assert.equal(verify.code, 1, verify.output);
    assert.match(verify.stdout, new RegExp(`FAIL ${SEGMENT} offset ${flipped.offset}: .*the frame's length field was altered`),
      verify.output);
    assert.doesNotMatch(verify.output, /partial frame \(writer stopped mid-write\)/, verify.output);

    const query = await runCli(['audit', 'query', auditDir, '--format', 'json']);
    assert.notEqual(query.code, 0, query.output);
    assert.match(query.stderr, new RegExp(`${SEGMENT}: offset ${flipped.offset}: .*the audit log is damaged here`), query.output);

    const stderr = await expectRefusedStart('bitflip', auditDir);
    assert.match(stderr, new RegExp(`cannot continue the audit log: ${SEGMENT} offset ${flipped.offset}: .*not torn by a crash`),
      stderr);
    assert.deepEqual(fs.readFileSync(segment), bytes, 'the segment was left as it was');
    assert.deepEqual(fs.readdirSync(auditDir).filter((f) => f.includes('quarantine')), []);
  });

  it('a signed record altered and the roots after it recomputed: the gateway refuses to start and signs nothing over it', async () => {
    const auditDir = copyOfLog('laundered');
    const segment = path.join(auditDir, SEGMENT);
    const closed = fs.readFileSync(segment);
    const checkpoints = framesOf(closed).filter((f) => f.tag === 'C');
    // An open last segment, as a crashed gateway leaves it.
    const bytes = Buffer.from(closed.subarray(0, checkpoints.at(-1).offset));
    const altered = framesOf(bytes).find((f) => f.tag === 'R' && f.offset > checkpoints[1].offset &&
      bytes.subarray(f.offset + 5, f.offset + 5 + f.length).includes('"status":200'));
    assert.ok(altered, 'an outcome record after the second checkpoint');
    const at = bytes.indexOf('"status":200', altered.offset + 5);
    bytes.write('"status":403', at);
    recomputeCheckpointRoots(bytes);
    fs.writeFileSync(segment, bytes);
    const firstCovering = checkpoints.find((c) => c.offset > altered.offset);

    const stderr = await expectRefusedStart('laundered', auditDir);
    assert.match(stderr, new RegExp(`cannot continue the audit log: ${SEGMENT} offset ${firstCovering.offset}: ` +
      'the checkpoint \\(tree size \\d+\\): signature by key [0-9a-f]{16} is invalid'), stderr);
    assert.deepEqual(fs.readFileSync(segment), bytes, 'no checkpoint was written over the altered record');
  });

  it('a torn last frame is cut at start-up and kept in a quarantine file, and the log verifies', async () => {
    const auditDir = copyOfLog('torn');
    const segment = path.join(auditDir, SEGMENT);
    const closed = fs.readFileSync(segment);
    const frames = framesOf(closed);
    const last = frames.filter((f) => f.tag === 'R').at(-1);
    const cutAt = last.offset + 5 + Math.floor(last.length / 2);  // kill -9 in the middle of its write
    fs.writeFileSync(segment, closed.subarray(0, cutAt));

    const gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir, { checkpoint_every_records: 5 }),
    });
    const quarantine = path.join(auditDir, `${SEGMENT}.quarantine-${last.offset}`);
    try {
      assert.match(gw.process.stderr, /audit_recovered/, gw.describe());
      assert.ok(gw.process.stderr.includes(`moved to ${quarantine}`), gw.describe());
      const res = await gw.chat(KEY, chat('After the crash.'));
      assert.equal(res.status, 200, res.text);
    } finally {
      await stopGracefully(gw);
      fs.rmSync(gw.dir, { recursive: true, force: true });
    }
    assert.deepEqual(fs.readFileSync(quarantine), closed.subarray(last.offset, cutAt), 'the cut bytes are kept');
    await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
  });
});
