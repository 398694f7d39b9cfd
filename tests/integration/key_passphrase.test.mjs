// `sovereign serve --passphrase-file FILE` with passphrase-protected keys (`keys init
// --passphrase-file`): the gateway opens its audit-signing and vault keys with the passphrase in the
// file (which wins over the environment), signs a log `audit verify` accepts, and still takes
// SOVEREIGN_KEY_PASSPHRASE_FILE without the option. A missing passphrase, or a passphrase file that
// is missing, group-readable, on two lines or wrong, stops it before anything starts, naming the
// file and the fix.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, runCli, stopAndRemove } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { initKeys, writeServeConfig, evidenceSections, assertAuditValid } from './lib/evidence.mjs';

const KEY = 'sk-passphrase-acme';
const PASSPHRASE = 'a long and private passphrase';

// The test's environment without any passphrase variable, so each case says where its passphrase
// comes from.
function environment(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const name of ['SOVEREIGN_KEY_PASSPHRASE', 'SOVEREIGN_KEY_PASSPHRASE_FILE']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

describe('serve --passphrase-file', { timeout: 90000 }, () => {
  let dir;
  let keys;
  let upstream;
  let passFile;
  let auditDir;

  function config() {
    return {
      tenants: [tenant({ name: 'acme', keys: [KEY], models: ['audited'] })],
      backends: [openaiBackend({ name: 'site-be', zone: 'site', models: ['audited'], upstreams: [upstream] })],
      ...evidenceSections(keys, auditDir, { checkpoint_every_ms: 200 }),
    };
  }

  // A passphrase file in the test directory; mode 0600 unless given.
  function passphraseFile(name, text, mode = 0o600) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    return file;
  }

  // `sovereign serve` that is expected not to start: its exit code and output.
  async function serveRefused(args, env = environment()) {
    const { configPath } = await writeServeConfig(dir, 'refused', { access_log: 'stderr', ...config() });
    return runCli(['serve', '--config', configPath, ...args], { env, timeoutMs: 20000 });
  }

  before(async () => {
    dir = tempDir('sovereign-passphrase-');
    passFile = passphraseFile('pass', `${PASSPHRASE}\n`);
    keys = await initKeys(path.join(dir, 'keys'), { passphraseFile: passFile });
    for (const file of [keys.signingKey, keys.vaultKey]) {
      assert.match(fs.readFileSync(file, 'utf8'), /^protection: argon2id$/m, `${file} is passphrase-protected`);
    }
    auditDir = path.join(dir, 'audit');
    upstream = await Upstream.start({ name: 'passphrase-upstream' });
  });

  after(async () => {
    await stopAndRemove(dir, upstream);
  });

  it('--help names the option', async () => {
    const help = await runCli(['serve', '--help']);
    assert.equal(help.code, 0, help.output);
    assert.match(help.stdout, /--passphrase-file FILE/);
  });

  it('starts with the passphrase from the file, which wins over the environment, and signs a valid log', async () => {
    const gw = await Gateway.start(config(), {
      serveArgs: ['--passphrase-file', passFile],
      env: environment({ SOVEREIGN_KEY_PASSPHRASE: 'not the passphrase' }),
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await gw.chat(KEY, { model: 'audited', messages: [{ role: 'user', content: `Question ${i}.` }] });
        assert.equal(res.status, 200, res.text);
      }
      assert.ok(!gw.stderr.includes(PASSPHRASE), 'the passphrase is never logged');
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
    const counts = await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
    assert.ok(counts.records[1] >= 6, JSON.stringify(counts));
  });

  it('without the option it still reads SOVEREIGN_KEY_PASSPHRASE_FILE', async () => {
    const gw = await Gateway.start(config(), { env: environment({ SOVEREIGN_KEY_PASSPHRASE_FILE: passFile }) });
    try {
      const res = await gw.chat(KEY, { model: 'audited', messages: [{ role: 'user', content: 'Again.' }] });
      assert.equal(res.status, 200, res.text);
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
    await assertAuditValid(auditDir, keys.signingPub, { requireClosed: true });
  });

  it('without a passphrase the protected key is named, with the option that fixes it', async () => {
    const result = await serveRefused([]);
    assert.equal(result.code, 1, result.output);
    assert.ok(result.stderr.includes(`${keys.signingKey}: the key is passphrase-protected; pass --passphrase-file FILE`),
      result.output);
  });

  it('a bad passphrase file stops the start, naming the file and what to fix', async () => {
    const cases = [
      { file: passphraseFile('readable', `${PASSPHRASE}\n`, 0o644), code: 2,
        says: (f) => `sovereign serve: --passphrase-file: ${f}: permissions 0644 let group or others read a secret; ` +
          `run: chmod 600 ${f}; nothing was started` },
      { file: path.join(dir, 'no-such-file'), code: 2,
        says: (f) => `sovereign serve: --passphrase-file: ${f}: cannot stat: No such file or directory` },
      { file: passphraseFile('two-lines', `${PASSPHRASE}\nsecond line\n`), code: 2,
        says: (f) => `--passphrase-file: ${f}: the passphrase file holds more than one line` },
      { file: passphraseFile('empty', '\n'), code: 2, says: (f) => `--passphrase-file: ${f}: the passphrase file is empty` },
      { file: passphraseFile('large', 'x'.repeat(5000)), code: 2,
        says: (f) => `--passphrase-file: ${f}: 5000 bytes, larger than the 4096 bytes` },
      { file: passphraseFile('wrong', 'not the passphrase\n'), code: 1,
        says: () => `${keys.signingKey}: wrong passphrase, or the key file was modified` },
    ];
    for (const { file, code, says } of cases) {
      const result = await serveRefused(['--passphrase-file', file]);
      assert.equal(result.code, code, `${file}:\n${result.output}`);
      assert.ok(result.stderr.includes(says(file)), `${file}: expected "${says(file)}" in:\n${result.output}`);
      assert.ok(!result.output.includes(PASSPHRASE), 'the passphrase is never printed');
    }
    const noValue = await serveRefused(['--passphrase-file']);
    assert.equal(noValue.code, 2, noValue.output);
    assert.match(noValue.stderr, /--passphrase-file/);
  });
});
