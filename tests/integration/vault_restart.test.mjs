// The token vault across restarts: with `vault.directory` set, a token issued before the gateway
// restarted (a clean stop, or kill -9) is still restored after it, in answers of the same tenant and
// conversation, even where the new request tokenized nothing itself (a backend that remembers
// earlier turns); without it, such a token stays a token. Another tenant never gets the value.
// `sovereign vault check` reads the file while the gateway runs, and names the byte of damage.
// Without a conversation, a request's mappings live only as long as the request.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, runCli, stopAndRemove } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { evidenceDir } from './lib/evidence.mjs';
import { sitePolicy, tokenizeRule } from './lib/policies.mjs';

const ALPHA = 'sk-vault-restart-alpha';
const BETA = 'sk-vault-restart-beta';
const EMAIL = 'alice.smith@example.com';
const TOKEN = /⟦EMAIL_[0-9a-f]{6,16}⟧/;
const CONVERSATION = { 'X-Conversation-Id': 'conv-restart' };

const POLICY = sitePolicy({ name: 'vault-restart-itest', defaultClearance: 'confidential',
  zoneDescription: 'the echo upstream', tenants: ['alpha', 'beta'], rules: tokenizeRule('tokenize-emails', ['email']) });

describe('token vault across restarts', { timeout: 120000 }, () => {
  let dir;
  let keys;
  let echo;
  let policyFile;

  before(async () => {
    ({ dir, keys, policyFile } = await evidenceDir('sovereign-vault-restart-', { policy: POLICY }));
    echo = await Upstream.start({ name: 'echo', 'echo-last-user': true });
  });

  after(async () => {
    await stopAndRemove(dir, echo);
  });

  const start = (vault) => Gateway.start({
    tenants: [tenant({ name: 'alpha', keys: [ALPHA], models: ['*'] }), tenant({ name: 'beta', keys: [BETA], models: ['*'] })],
    backends: [openaiBackend({ name: 'echo-be', zone: 'site', models: ['echo-model'], upstreams: [echo] })],
    policy: policyFile,
    vault,
  });
  const ask = (gw, key, content) =>
    gw.chat(key, { model: 'echo-model', messages: [{ role: 'user', content }] }, { headers: CONVERSATION });

  // Tokenizes the e-mail address in the first gateway and returns the token the upstream saw.
  async function issueToken(gw) {
    const before = echo.requests().length;
    const res = await ask(gw, ALPHA, `Write to ${EMAIL} today.`);
    assert.equal(res.status, 200, res.text);
    await echo.waitForRequests(before + 1);
    const token = JSON.parse(echo.requests()[before].body).messages[0].content.match(TOKEN)?.[0];
    assert.ok(token, `the upstream got no token: ${echo.requests()[before].body}`);
    return token;
  }

  for (const how of ['stop', 'kill -9']) {
    it(`with a vault directory, a token from before a restart (${how}) is restored after it`, async () => {
      const vault = { key: keys.vaultKey, directory: path.join(dir, `vault-${how.replace(/\W/g, '')}`) };
      const first = await start(vault);
      const token = await issueToken(first);
      if (how === 'stop') await first.stop();
      else {
        first.process.signal('SIGKILL');
        await first.process.exited;
        fs.rmSync(first.dir, { recursive: true, force: true });
      }
      const second = await start(vault);
      try {
        // An operator's check reads the file while the gateway runs (it neither locks nor changes it).
        const checked = await runCli(['vault', 'check', vault.directory]);
        assert.equal(checked.code, 0, checked.output);
        assert.match(checked.stdout, /mappings\.vault: 1 records valid \(\d+ bytes\)/);
        assert.match(checked.stdout, /live mappings: 1\n {4}vault key [0-9a-f]+: tenant alpha 1\n/);
        // The backend writes the token of the earlier turn; this request has no value of its own.
        const res = await ask(second, ALPHA, `As I said, reply to ${token}.`);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.choices[0].message.content, `As I said, reply to ${EMAIL}.`);
        const other = await ask(second, BETA, `Who is ${token}?`);
        assert.equal(other.json.choices[0].message.content, `Who is ${token}?`, 'another tenant gets the token as it is');
        const metrics = await second.metrics();
        assert.equal(metrics.value('sovereign_vault_mappings'), 1);
        assert.equal(metrics.value('sovereign_vault_capacity'), 1000000);
        assert.equal(metrics.value('sovereign_vault_journal_bytes'), fs.statSync(path.join(vault.directory, 'mappings.vault')).size);
        const mode = fs.statSync(path.join(vault.directory, 'mappings.vault')).mode & 0o777;
        assert.equal(mode, 0o600, `mappings.vault mode ${mode.toString(8)}`);
        assert.ok(!fs.readFileSync(path.join(vault.directory, 'mappings.vault')).includes(EMAIL), 'the value is on disk in clear');
      } finally {
        await second.stop();
      }
    });
  }

  it('without X-Conversation-Id a request\'s tokens are restored in its answer, then forgotten, never written', async () => {
    const vault = { key: keys.vaultKey, directory: path.join(dir, 'vault-request-scoped') };
    const gw = await start(vault);
    try {
      const file = path.join(vault.directory, 'mappings.vault');
      const size = fs.statSync(file).size;
      for (const stream of [false, true]) {
        const before = echo.requests().length;
        const res = await gw.chat(ALPHA, { model: 'echo-model', stream, messages: [{ role: 'user', content: `Write to ${EMAIL}.` }] });
        assert.equal(res.status, 200, res.text);
        await echo.waitForRequests(before + 1);
        assert.match(echo.requests()[before].body, TOKEN, 'the backend got a token');
        assert.ok(res.text.includes(EMAIL), `the client got the value back: ${res.text}`);
      }
      assert.equal(fs.statSync(file).size, size, 'request-scoped mappings are not written');
      // The answers are done: their mappings are gone (the gauge is sampled at each scrape).
      let held = null;
      for (let i = 0; i < 50 && held !== 0; i++) {
        held = (await gw.metrics()).value('sovereign_vault_mappings');
        if (held !== 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(held, 0);
    } finally {
      await gw.stop();
    }
  });

  it('without a vault directory, a token from before a restart stays a token', async () => {
    const vault = { key: keys.vaultKey };
    const first = await start(vault);
    const token = await issueToken(first);
    await first.stop();
    const second = await start(vault);
    try {
      const res = await ask(second, ALPHA, `As I said, reply to ${token}.`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.choices[0].message.content, `As I said, reply to ${token}.`);
    } finally {
      await second.stop();
    }
  });

  it('a damaged mappings file stops the start with its byte offset', async () => {
    const directory = path.join(dir, 'vault-damaged');
    fs.mkdirSync(directory, { mode: 0o700 });
    fs.writeFileSync(path.join(directory, 'mappings.vault'), 'SOVEREIGN-VAULT-MAPPINGS v1\nXXXXXXXXXXXXXXXXXXXXXXXXXXXX', { mode: 0o600 });
    await assert.rejects(start({ key: keys.vaultKey, directory }), (error) => {
      assert.match(String(error.message), /mappings\.vault: byte 28: expected a mapping record/);
      return true;
    });
    const checked = await runCli(['vault', 'check', directory]);
    assert.equal(checked.code, 1, checked.output);
    assert.match(checked.stderr, /mappings\.vault: byte 28: expected a mapping record; .*Move it away/);
  });

  it('vault check refuses a mappings file others can read, as the start does', async () => {
    const directory = path.join(dir, 'vault-readable');
    const first = await start({ key: keys.vaultKey, directory });
    await issueToken(first);
    await first.stop();
    fs.chmodSync(path.join(directory, 'mappings.vault'), 0o644);
    await assert.rejects(start({ key: keys.vaultKey, directory }), (error) => {
      assert.match(String(error.message), /mappings\.vault: permissions 0644 let group or others read a secret/);
      return true;
    });
    const checked = await runCli(['vault', 'check', directory]);
    assert.equal(checked.code, 1, checked.output);
    assert.match(checked.stderr, /mappings\.vault: permissions 0644 let group or others read a secret; run: chmod 600 /);
  });

  it('vault check given a key file instead of the directory names the file for what it is', async () => {
    for (const [file, what] of [[keys.vaultKey, 'the vault secret key'], [keys.auditorPub, 'the auditor public keyring']]) {
      const checked = await runCli(['vault', 'check', file]);
      assert.equal(checked.code, 2, checked.output);
      assert.ok(checked.stderr.startsWith(`sovereign vault: ${file}: this is ${what}; vault check takes the vault's ` +
        'directory (vault.directory in gateway.yaml, which holds mappings.vault) and needs no key\n'), checked.stderr);
    }
  });
});
