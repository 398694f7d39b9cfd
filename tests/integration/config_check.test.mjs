// `sovereign config check FILE`: a good file passes with exit 0; each kind of mistake is reported
// as FILE:LINE:COL: message at the place of the mistake, with exit 1, and nothing is started; so
// are the files it names (certificates, policy, model files) and replicas serve could never use, at
// the setting that names them; `serve` reports them in the same words at start.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, sha256Hex, tempDir } from './lib/gateway.mjs';
import { prepareQuickstart } from './lib/quickstart.mjs';

const DIGEST = sha256Hex('sk-config-check');

// Line numbers below refer to this text (1-based).
const GOOD = `workers: 1
listeners:
  - name: api
    address: 127.0.0.1
    port: 18080
admin:
  address: 127.0.0.1
  port: 19090
boundary:
  - 127.0.0.1/32
tenants:
  - name: demo
    api_keys:
      - sha256: ${DIGEST}
    models: [chat]
backends:
  - name: local-vllm
    type: openai
    zone: site
    models: [chat]
    replicas:
      - url: http://127.0.0.1:18000
    loopback: true
`;

function replaceLine(text, lineNumber, newLine) {
  const lines = text.split('\n');
  lines[lineNumber - 1] = newLine;
  return lines.join('\n');
}

describe('sovereign config check', () => {
  let dir;

  before(() => {
    dir = tempDir('sovereign-config-check-');
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name, text) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  // The diagnostics of a failed check: each FILE:LINE:COL: message line for `file`.
  function diagnostics(result, file) {
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`^${escaped}:(\\d+):(\\d+): (.+)$`, 'gm');
    return [...result.output.matchAll(re)].map((m) => ({ line: Number(m[1]), col: Number(m[2]), message: m[3] }));
  }

  // The messages of serve's startup_failed log lines.
  function startupFailures(served) {
    return served.stderr.split('\n').filter((l) => l.includes('"startup_failed"')).map((l) => JSON.parse(l).message);
  }

  // The diagnostic whose message matches `pattern`, asserted to sit at line:col.
  function assertAt(found, pattern, line, col) {
    const hit = found.find((d) => pattern.test(d.message));
    assert.ok(hit, `no FILE:LINE:COL: diagnostic matching ${pattern}:\n${JSON.stringify(found, null, 1)}`);
    assert.deepEqual({ line: hit.line, col: hit.col }, { line, col }, hit.message);
  }

  async function checkFails(file) {
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, `exit status for a bad file:\n${result.output}`);
    const found = diagnostics(result, file);
    assert.ok(found.length > 0, `no FILE:LINE:COL: diagnostic:\n${result.output}`);
    return found;
  }

  it('accepts a good file with exit 0', async () => {
    const result = await runCli(['config', 'check', write('good.yaml', GOOD)]);
    assert.equal(result.code, 0, result.output);
  });

  it('prints advisory policy findings as warnings and passes: a class left to its fallback, a quoted text over two lines', async () => {
    // Sound as written (the built-ins without a class of this policy take the highest, the safe side),
    // so an upgrade that learns to point it out does not stop the gateway's start.
    fs.writeFileSync(path.join(dir, 'advisory-policy.yaml'), `name: advisory
version: 1
classes: [open, closed]
zones:
  - name: site
    description: "the site's GPUs,
      hall A"
rules:
  - name: everyone-on-site
    then: {action: allow, zones: [site]}
`);
    const file = write('advisory.yaml', `${GOOD}policy: advisory-policy.yaml\n`);
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /advisory-policy\.yaml:3:1: warning: built-in detectors whose default class is not one of the policy's classes take the highest class, closed: /, result.output);
    assert.match(result.output, /advisory-policy\.yaml:6:18: warning: the quoted text that starts here goes on to line 7/, result.output);
    assert.match(result.output, /: ok \(/, result.output);
    // policy lint reports them like any other finding.
    const linted = await runCli(['policy', 'lint', path.join(dir, 'advisory-policy.yaml')]);
    assert.equal(linted.code, 1, linted.output);
    assert.match(linted.output, /warning: built-in detectors/, linted.output);
  });

  it('reports an unknown key at its line and column with a suggestion', async () => {
    const file = write('typo.yaml', replaceLine(GOOD, 15, '    modles: [chat]'));
    const [first] = await checkFails(file);
    assert.deepEqual({ line: first.line, col: first.col }, { line: 15, col: 5 }, first.message);
    assert.match(first.message, /modles/);
    assert.match(first.message, /did you mean .*models/i);
  });

  it('reports an out-of-range port at its line', async () => {
    const file = write('port.yaml', replaceLine(GOOD, 5, '    port: 70000'));
    const [first] = await checkFails(file);
    assert.equal(first.line, 5, first.message);
    assert.ok(first.col === 5 || first.col === 11, `column ${first.col} is neither the key nor the value`);
  });

  it('reports a digest that is not 64 hex digits', async () => {
    const file = write('digest.yaml', replaceLine(GOOD, 14, '      - sha256: sk-config-check'));
    const [first] = await checkFails(file);
    assert.equal(first.line, 14, first.message);
    assert.match(first.message, /sha256|digest|hex/i);
  });

  it('reports a malformed boundary CIDR', async () => {
    const file = write('cidr.yaml', replaceLine(GOOD, 10, '  - 127.0.0.1/33'));
    const [first] = await checkFails(file);
    assert.equal(first.line, 10, first.message);
  });

  it('reports a YAML syntax error with its position', async () => {
    const file = write('syntax.yaml', replaceLine(GOOD, 15, '    models: [chat'));
    const found = await checkFails(file);
    assert.ok(found[0].line >= 15, `line ${found[0].line}: ${found[0].message}`);
  });

  it('refuses a quoted text that is never closed at its opening quote; serve names it and starts nothing', async () => {
    // yaml-cpp would read "access.log policy: qp.yaml " as the access log's path and run with no policy.
    fs.writeFileSync(path.join(dir, 'qp.yaml'), 'classes: [public]\nzones: [{name: site}]\nrules: []\n');
    for (const quote of ['"', "'"]) {
      const file = write('open-quote.yaml', `${GOOD}access_log: ${quote}access.log\npolicy: qp.yaml\n`);
      const found = await checkFails(file);
      assert.equal(found.length, 1, JSON.stringify(found));
      assertAt(found, /^YAML syntax error: the quoted text that starts here is never closed$/, 24, 13);
      const served = await runCli(['serve', '--config', file]);
      assert.equal(served.code, 1, served.output);
      assert.ok(served.stderr.includes(`${file}:24:13: YAML syntax error: the quoted text that starts here is never closed`),
        served.stderr);
      assert.match(served.stderr, /nothing was started/, served.stderr);
      for (const where of [dir, process.cwd()])
        assert.deepEqual(fs.readdirSync(where).filter((name) => name.startsWith('access.log')), [], `no access log in ${where}`);
    }
  });

  it('refuses a quoted text that a quote far below closes, taking in a line written as a key', async () => {
    const file = write('late-quote.yaml', `${GOOD}access_log: "access.log\npolicy: qp.yaml"\n`);
    const found = await checkFails(file);
    assertAt(found, /^YAML syntax error: the quoted text that starts here runs on into line 25, which reads as a key/, 24, 13);
  });

  it('reports a missing required section', async () => {
    const file = write('nolisteners.yaml', GOOD.split('\n').filter((_, i) => i < 1 || i > 4).join('\n'));
    await checkFails(file);
  });

  it('reports a file that does not exist, naming it', async () => {
    const file = path.join(dir, 'missing.yaml');
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    assert.ok(result.output.includes(file), result.output);
  });

  it('reports what serve would refuse or never use: certificates, replicas outside the boundary, the policy, model files', async () => {
    fs.writeFileSync(path.join(dir, 'not-a-cert.pem'), 'hello\n');
    fs.writeFileSync(path.join(dir, 'not-a-model.gguf'), 'GGUF but not really');
    fs.writeFileSync(path.join(dir, 'broken-policy.yaml'), 'name: broken\nversion: 1\nrules: [\n');
    const text = GOOD
      .replace('    port: 18080\n', '    port: 18080\n    tls:\n      certificate: not-a-cert.pem\n      private_key: not-a-cert.pem\n')
      .replace('http://127.0.0.1:18000', 'http://10.9.9.9:18000')
      .replace('    loopback: true\n', `    loopback: true
  - name: on-site-engine
    type: local
    zone: site
    models: [tiny]
    model_file: not-a-model.gguf
policy: broken-policy.yaml
`);
    const file = write('deployment.yaml', text);
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    // GOOD's lines, three further down after the listener's tls (lines 6-8).
    const found = diagnostics(result, file);
    assertAt(found, /^listener 'api': cannot load certificate '.*not-a-cert\.pem'/, 7, 20);
    assertAt(found, /^backend 'local-vllm' replica http:\/\/10\.9\.9\.9:18000 would never be used: .*outside the boundary/, 25, 14);
    assertAt(found, /^backend 'on-site-engine': .*not-a-model\.gguf: byte \d+/, 31, 17);
    assert.match(result.output, /broken-policy\.yaml:4:1: YAML syntax error: /, result.output);
    // Past the syntax error (its section left out) the policy is read on: it has no classes and no zones either.
    assert.match(result.output, /broken-policy\.yaml:1:1: the policy needs 'classes'\n.*broken-policy\.yaml:1:1: the policy needs 'zones'\n/,
      result.output);
    assert.match(result.output, /6 problem\(s\) beyond the file itself/, result.output);
  });

  it('refuses an encrypted private key at once and a certificate outside its validity period', async () => {
    const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key',
      '-out', 'tls.crt', '-days', '2', '-subj', '/CN=localhost');
    openssl('pkey', '-in', 'tls.key', '-aes256', '-passout', 'pass:secret', '-out', 'encrypted.key');
    openssl('req', '-new', '-key', 'tls.key', '-out', 'old.csr', '-subj', '/CN=localhost');
    openssl('x509', '-req', '-in', 'old.csr', '-key', 'tls.key', '-days', '-1', '-out', 'expired.crt');
    const tls = (cert, key) => GOOD.replace('    port: 18080\n',
      `    port: 18080\n    tls:\n      certificate: ${cert}\n      private_key: ${key}\n`);
    const encrypted = await runCli(['config', 'check', write('encrypted.yaml', tls('tls.crt', 'encrypted.key'))]);
    assert.equal(encrypted.code, 1, encrypted.output);
    assert.match(encrypted.output, /private key '.*encrypted\.key' is encrypted with a passphrase/, encrypted.output);
    assertAt(diagnostics(encrypted, path.join(dir, 'encrypted.yaml')), /private key '.*encrypted\.key' is encrypted/, 8, 20);
    const expired = await runCli(['config', 'check', write('expired.yaml', tls('expired.crt', 'tls.key'))]);
    assert.equal(expired.code, 1, expired.output);
    assert.match(expired.output, /certificate '.*expired\.crt' expired on \d{4}-\d\d-\d\d /, expired.output);
    assertAt(diagnostics(expired, path.join(dir, 'expired.yaml')), /certificate '.*expired\.crt' expired/, 7, 20);
    const good = await runCli(['config', 'check', write('tls-good.yaml', tls('tls.crt', 'tls.key'))]);
    assert.equal(good.code, 0, good.output);
  });

  it('refuses a backend CA none of whose certificates is valid now, which would fail every handshake', async () => {
    const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
      '-out', 'ca.csr', '-subj', '/CN=backend-ca');
    openssl('x509', '-req', '-in', 'ca.csr', '-key', 'ca.key', '-days', '-1', '-out', 'expired-ca.crt');
    openssl('x509', '-req', '-in', 'ca.csr', '-key', 'ca.key', '-days', '2', '-out', 'ca.crt');
    fs.writeFileSync(path.join(dir, 'both-ca.crt'), fs.readFileSync(path.join(dir, 'expired-ca.crt')) +
      fs.readFileSync(path.join(dir, 'ca.crt')));
    const pinned = (ca) => GOOD.replace('      - url: http://127.0.0.1:18000\n    loopback: true\n',
      `      - url: https://127.0.0.1:18000\n    tls:\n      ca: ${ca}\n`);
    const expired = await runCli(['config', 'check', write('expired-ca.yaml', pinned('expired-ca.crt'))]);
    assert.equal(expired.code, 1, expired.output);
    assertAt(diagnostics(expired, path.join(dir, 'expired-ca.yaml')),
      /^backend 'local-vllm': backend CA '.*expired-ca\.crt' holds no certificate valid now: it expired on \d{4}-\d\d-\d\d /, 24, 11);
    for (const ca of ['ca.crt', 'both-ca.crt']) {
      const good = await runCli(['config', 'check', write('good-ca.yaml', pinned(ca))]);
      assert.equal(good.code, 0, `${ca}: ${good.output}`);
    }
  });

  it('reports the files serve would fail to open: access log, audit directory and keys, vault key', async () => {
    const keys = path.join(dir, 'keys');
    await runCli(['keys', 'init', '--dir', keys]);
    fs.writeFileSync(path.join(dir, 'a-file'), 'not a directory\n');
    fs.copyFileSync(path.join(keys, 'vault.key'), path.join(dir, 'readable-vault.key'));
    fs.chmodSync(path.join(dir, 'readable-vault.key'), 0o644);
    const text = GOOD + `access_log: ${path.join(dir, 'no-such-dir', 'access.log')}
audit:
  directory: ${path.join(dir, 'a-file')}
  signing_key: ${path.join(keys, 'vault.key')}
  auditor_public_key: ${path.join(keys, 'audit-signing.pub')}
vault:
  key: ${path.join(dir, 'readable-vault.key')}
`;
    const file = write('files.yaml', text);
    const result = await runCli(['config', 'check', file]);
    assert.equal(result.code, 1, result.output);
    // GOOD has 23 lines: the settings added follow from line 24.
    const found = diagnostics(result, file);
    assertAt(found, /^access_log: cannot create '.*access\.log': no directory/, 24, 13);
    assertAt(found, /^audit\.directory: '.*a-file' exists and is not a directory/, 26, 14);
    assertAt(found, /^audit\.signing_key: .*vault\.key holds the vault key, not the audit-signing key/, 27, 16);
    assertAt(found, /^audit\.auditor_public_key: .*holds no auditor public key/, 28, 23);
    assertAt(found, /^vault\.key: .*readable-vault\.key/, 30, 8);
    // serve checks the same files first, and says so in the same words before anything starts.
    const served = await runCli(['serve', '--config', file]);
    assert.equal(served.code, 1, served.output);
    const checked = result.stdout.split('\n').filter((l) => l.startsWith(file) && /^:\d+:\d+: /.test(l.slice(file.length)));
    assert.deepEqual(startupFailures(served), checked, served.output);
    assert.match(result.output, /5 problem\(s\) beyond the file itself/, result.output);
    // The same files, right, pass.
    const good = GOOD + `access_log: ${path.join(dir, 'access.log')}
audit:
  directory: ${path.join(dir, 'audit-to-be')}
  signing_key: ${path.join(keys, 'audit-signing.key')}
  auditor_public_key: ${path.join(keys, 'auditor.pub')}
vault:
  key: ${path.join(keys, 'vault.key')}
`;
    const ok = await runCli(['config', 'check', write('files-good.yaml', good)]);
    assert.equal(ok.code, 0, ok.output);
    assert.ok(!fs.existsSync(path.join(dir, 'audit-to-be')), 'config check creates nothing');
  });

  it('reads the keys serve opens as serve does: a short secret, no secret, a key-id not the key\'s, a protected key\'s fields', async () => {
    const keys = path.join(dir, 'checked-keys');
    assert.equal((await runCli(['keys', 'init', '--dir', keys])).code, 0);
    const passFile = path.join(dir, 'checked-pass');
    fs.writeFileSync(passFile, 'a long passphrase\n', { mode: 0o600 });
    const sealedKeys = path.join(dir, 'checked-sealed-keys');
    assert.equal((await runCli(['keys', 'init', '--dir', sealedKeys, '--passphrase-file', passFile])).code, 0);
    const plain = fs.readFileSync(path.join(keys, 'audit-signing.key'), 'utf8');
    const sealed = fs.readFileSync(path.join(sealedKeys, 'audit-signing.key'), 'utf8');
    const config = (name, keyText) => {
      const keyFile = path.join(dir, `${name}.key`);
      fs.writeFileSync(keyFile, keyText, { mode: 0o600 });
      return { keyFile, file: write(`${name}.yaml`, GOOD + `audit:
  directory: ${path.join(dir, `${name}-audit`)}
  signing_key: ${keyFile}
`) };
    };
    const cases = [
      ['short-secret', plain.replace(/^secret: [0-9a-f]{64}$/m, `secret: ${'ab'.repeat(31)}`), ':7: expected 64 hex digits'],
      ['no-secret', plain.replace(/^secret: .*\n/m, ''), ": missing field 'secret'"],
      ['wrong-key-id', plain.replace(/^key-id: .*$/m, 'key-id: 0000000000000000'),
        ':4: key-id 0000000000000000 does not match the key ('],
      ['short-nonce', sealed.replace(/^nonce: [0-9a-f]{48}$/m, `nonce: ${'0'.repeat(46)}`), ':10: expected 48 hex digits'],
      ['costly-kdf', sealed.replace(/^kdf-opslimit: .*$/m, 'kdf-opslimit: 99'), ':7: must be between 1 and 16'],
    ];
    for (const [name, keyText, says] of cases) {
      const { keyFile, file } = config(name, keyText);
      const result = await runCli(['config', 'check', file]);
      assert.equal(result.code, 1, `${name}: ${result.output}`);
      // GOOD has 23 lines: audit is line 24, its signing_key line 26.
      const found = diagnostics(result, file);
      const escaped = `${keyFile}${says}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assertAt(found, new RegExp(`^audit\\.signing_key: ${escaped}`), 26, 16);
      // serve stops on the same words before anything starts, rather than after config check passed.
      const served = await runCli(['serve', '--config', file]);
      assert.equal(served.code, 1, `${name}: ${served.output}`);
      const checked = result.stdout.split('\n').filter((l) => l.startsWith(file) && /^:\d+:\d+: /.test(l.slice(file.length)));
      assert.deepEqual(startupFailures(served), checked, `${name}: ${served.output}`);
    }
    // Whole keys pass; a protected one is checked without its passphrase.
    for (const [name, keyText] of [['plain-whole', plain], ['sealed-whole', sealed]]) {
      const result = await runCli(['config', 'check', config(name, keyText).file]);
      assert.equal(result.code, 0, `${name}: ${result.output}`);
    }
  });

  it('refuses a policy that asks for sealed captures where no auditor public key is set, as serve does', async () => {
    const keys = path.join(dir, 'capture-keys');
    await runCli(['keys', 'init', '--dir', keys]);
    fs.writeFileSync(path.join(dir, 'capture-policy.yaml'), `name: capture
version: 1
classes: [public, internal, confidential, restricted]
default_clearance: public
zones:
  - name: site
tenants:
  - name: demo
    clearance: internal
rules:
  - name: seal-everything
    when:
      tenants: [demo]
    then:
      capture_payload: true
  - name: demo-on-site
    when:
      tenants: [demo]
    then:
      action: allow
      zones: [site]
`);
    // GOOD has 23 lines: policy is line 24, the audit section's settings start at line 26.
    const withPolicy = GOOD + 'policy: capture-policy.yaml\n';
    const audit = `audit:
  directory: ${path.join(dir, 'capture-audit')}
  signing_key: ${path.join(keys, 'audit-signing.key')}
`;
    const file = write('capture-no-auditor.yaml', withPolicy + audit);
    const found = await checkFails(file);
    assertAt(found, /^audit: the policy's rule 'seal-everything' \(.*capture-policy\.yaml:11:5\) asks for capture_payload, but audit\.auditor_public_key is not set, so no capture could be sealed/, 26, 3);
    const served = await runCli(['serve', '--config', file]);
    assert.equal(served.code, 1, served.output);
    assert.ok(startupFailures(served).some((m) => m.startsWith(`${file}:26:3: audit: the policy's rule 'seal-everything'`)),
      served.output);
    const noAudit = write('capture-no-audit.yaml', withPolicy);
    assertAt(await checkFails(noAudit), /^policy: rule 'seal-everything' .* asks for capture_payload, but gateway\.yaml has no audit section/, 24, 9);
    const good = write('capture-good.yaml', withPolicy + audit + `  auditor_public_key: ${path.join(keys, 'auditor.pub')}\n`);
    const ok = await runCli(['config', 'check', good]);
    assert.equal(ok.code, 0, ok.output);
    // A rule in warn or dry-run mode captures nothing, so it needs no auditor key.
    for (const mode of ['warn', 'dry-run']) {
      fs.writeFileSync(path.join(dir, `capture-${mode}-policy.yaml`), fs.readFileSync(path.join(dir, 'capture-policy.yaml'), 'utf8')
        .replace('  - name: seal-everything\n', `  - name: seal-everything\n    mode: ${mode}\n`));
      const trial = write(`capture-${mode}.yaml`, GOOD + `policy: capture-${mode}-policy.yaml\n` + audit);
      const checked = await runCli(['config', 'check', trial]);
      assert.equal(checked.code, 0, `${mode}: ${checked.output}`);
    }
  });

  it('a policy setting naming a directory is reported at the setting, saying so, by config check and by serve', async () => {
    // It used to be "DIR:1:1: reading the file failed": no reason, and not where the mistake is.
    fs.mkdirSync(path.join(dir, 'policy-dir'), { recursive: true });
    const file = write('policy-dir.yaml', `${GOOD}policy: policy-dir\n`);
    const found = await checkFails(file);
    assertAt(found, /^policy: '[^']*policy-dir': is a directory, not a file$/, 24, 9);
    const served = await runCli(['serve', '--config', file]);
    assert.equal(served.code, 1, served.output);
    assert.ok(startupFailures(served).some((m) => /^.*policy-dir\.yaml:24:9: policy: '[^']*policy-dir': is a directory, not a file$/.test(m)),
      served.output);
    // Without a gateway.yaml to place it at, policy lint says it at the directory itself.
    const linted = await runCli(['policy', 'lint', path.join(dir, 'policy-dir')]);
    assert.equal(linted.code, 1, linted.output);
    assert.match(linted.output, /policy-dir:1:1: is a directory, not a file/, linted.output);
  });

  it('serve reports a certificate it cannot load at the setting, as config check does, and starts nothing', async () => {
    fs.writeFileSync(path.join(dir, 'bad-cert.pem'), 'not a certificate\n');
    const file = write('serve-bad-cert.yaml', GOOD.replace('    port: 18080\n',
      '    port: 18080\n    tls:\n      certificate: bad-cert.pem\n      private_key: bad-cert.pem\n'));
    const served = await runCli(['serve', '--config', file]);
    assert.equal(served.code, 1, served.output);
    const [message] = startupFailures(served);
    assert.ok(message?.startsWith(`${file}:7:20: listener 'api': cannot load certificate '`), served.output);
    const checked = await runCli(['config', 'check', file]);
    assert.ok(checked.stdout.split('\n').includes(message), `config check words it differently:\n${checked.stdout}`);
  });

  // The quickstart's config names the demo model and keys under ../../var, which a clean clone
  // lacks: they are made in a temporary copy of the layout, never in the repository's var/.
  it('accepts the quickstart configuration', async () => {
    const qs = await prepareQuickstart();
    try {
      const result = await runCli(['config', 'check', qs.configPath]);
      assert.equal(result.code, 0, result.output);
    } finally {
      fs.rmSync(qs.root, { recursive: true, force: true });
    }
  });
});
