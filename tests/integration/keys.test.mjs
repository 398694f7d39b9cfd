// `sovereign keys` against a real gateway's audit log: a signing key rotated after its keyring was
// lost, or replaced by another site's, has its public key recorded first, so `audit verify` still
// accepts every checkpoint it signed; a secret whose public key cannot be derived is not replaced;
// `keys init` recreates a missing keyring from the secret it keeps.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, runCli } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { initKeys, evidenceSections, assertAuditValid } from './lib/evidence.mjs';

const KEY = 'sk-keys-acme';

// The key ids a keyring holds, in order.
function keyringIds(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('sovereign-public-key-v1 '))
    .map((l) => l.split(' ')[2]);
}

function keyIdOf(secretFile) {
  return /^key-id: (\w+)$/m.exec(fs.readFileSync(secretFile, 'utf8'))[1];
}

describe('sovereign keys and the keyrings', { timeout: 90000 }, () => {
  let dir;
  let upstream;

  before(async () => {
    dir = tempDir('sovereign-keys-');
    upstream = await Upstream.start({ name: 'keys-upstream' });
  });

  after(async () => {
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Starts a gateway signing with `keys`, has it answer one request, and stops it cleanly.
  async function signSomeRecords(keys, auditDir) {
    const gw = await Gateway.start({
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir, { checkpoint_every_ms: 200 }),
    });
    try {
      const res = await gw.chat(KEY, { model: 'audited', messages: [{ role: 'user', content: 'Hello.' }] });
      assert.equal(res.status, 200, res.text);
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  }

  for (const [variant, breakKeyring] of [
    ['lost', (keys) => fs.rmSync(keys.signingPub)],
    ['copied from another site', async (keys) => {
      const other = await initKeys(path.join(dir, 'other-site-keys'));
      fs.copyFileSync(other.signingPub, keys.signingPub);
    }],
  ]) {
    it(`rotating the signing key after its keyring was ${variant} keeps the log it signed verifiable`, async () => {
      const keys = await initKeys(path.join(dir, `keys-${variant.replace(/ /g, '-')}`));
      const auditDir = path.join(dir, `audit-${variant.replace(/ /g, '-')}`);
      await signSomeRecords(keys, auditDir);
      const oldId = keyIdOf(keys.signingKey);
      await breakKeyring(keys);
      const foreign = fs.existsSync(keys.signingPub) ? keyringIds(keys.signingPub) : [];

      const rotated = await runCli(['keys', 'rotate', 'audit-signing', '--dir', keys.dir]);
      assert.equal(rotated.code, 0, rotated.output);
      const how = foreign.length === 0 ? 'the file was missing: recreated from' : 'it held other keys only: derived from';
      assert.ok(rotated.stdout.startsWith(`recorded old audit-signing key ${oldId} in ${keys.signingPub} (${how} ` +
        `${keys.signingKey})\n`), rotated.output);
      assert.doesNotMatch(rotated.stdout, /keeps every public key/);
      assert.deepEqual(keyringIds(keys.signingPub), [...foreign, oldId, keyIdOf(keys.signingKey)]);

      await signSomeRecords(keys, auditDir);
      await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
    });
  }

  it('keys rotate leaves a secret whose public key the keyring lacks and which does not open as it was', async () => {
    const keys = await initKeys(path.join(dir, 'keys-damaged'));
    fs.rmSync(keys.signingPub);
    const text = fs.readFileSync(keys.signingKey, 'utf8').replace(/^secret: [0-9a-f]{64}$/m, `secret: ${'ab'.repeat(31)}`);
    fs.writeFileSync(keys.signingKey, text);
    const rotated = await runCli(['keys', 'rotate', 'audit-signing', '--dir', keys.dir]);
    assert.equal(rotated.code, 1, rotated.output);
    assert.ok(rotated.stderr.includes(`${keys.signingPub} does not hold the public key of ${keys.signingKey}`), rotated.output);
    assert.ok(rotated.stderr.includes(`${keys.signingKey}:7: expected 64 hex digits; nothing was changed`), rotated.output);
    assert.equal(fs.readFileSync(keys.signingKey, 'utf8'), text);
    assert.ok(!fs.existsSync(keys.signingPub));
  });

  it('keys init recreates a missing keyring from the key it keeps, and the log verifies with it', async () => {
    const keys = await initKeys(path.join(dir, 'keys-init'));
    const auditDir = path.join(dir, 'audit-init');
    await signSomeRecords(keys, auditDir);
    fs.rmSync(keys.signingPub);
    const again = await runCli(['keys', 'init', '--dir', keys.dir]);
    assert.equal(again.code, 0, again.output);
    assert.ok(again.stdout.includes(`recorded audit-signing key ${keyIdOf(keys.signingKey)} in ${keys.signingPub} ` +
      `(the file was missing: recreated from ${keys.signingKey})\n`), again.output);
    await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
  });
});
