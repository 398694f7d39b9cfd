// Evidence for the tests of policy, audit, vault and captures: keys made with `sovereign keys init`,
// the gateway.yaml sections that use them, a gateway started from a config file the test wrote
// itself, and the auditor's tools (`audit verify`, `audit query`, `audit open`) run as an auditor would.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, runCli, gatewayBin, tempDir } from './gateway.mjs';
import { freePort } from './ports.mjs';
import { toYaml } from './yaml.mjs';
import { TrackedProcess } from './processes.mjs';

// Runs `sovereign keys init --dir DIR` (with `passphraseFile`: protected by the passphrase in it)
// and returns the paths of the files it made.
export async function initKeys(dir, { passphraseFile } = {}) {
  const result = await runCli(['keys', 'init', '--dir', dir, ...(passphraseFile ? ['--passphrase-file', passphraseFile] : [])]);
  assert.equal(result.code, 0, `keys init --dir ${dir}:\n${result.output}`);
  return {
    dir,
    signingKey: path.join(dir, 'audit-signing.key'),
    signingPub: path.join(dir, 'audit-signing.pub'),
    vaultKey: path.join(dir, 'vault.key'),
    auditorKey: path.join(dir, 'auditor.key'),
    auditorPub: path.join(dir, 'auditor.pub'),
  };
}

// A suite's temporary directory (`prefix`) with keys from initKeys() in keys/ and, given `policy`
// (YAML text), that saved as policy.yaml (`policyFile`): what a gateway with evidence needs. Where
// the keys cannot be made, the directory is removed before the error is thrown.
export async function evidenceDir(prefix, { policy } = {}) {
  const dir = tempDir(prefix);
  let keys;
  try {
    keys = await initKeys(path.join(dir, 'keys'));
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const policyFile = path.join(dir, 'policy.yaml');
  if (policy !== undefined) fs.writeFileSync(policyFile, policy);
  return { dir, keys, policyFile };
}

// The `audit` and `vault` sections of gateway.yaml for keys from initKeys().
export function evidenceSections(keys, auditDir, { durability = 'strict', ...auditExtra } = {}) {
  return {
    audit: {
      directory: auditDir,
      durability,
      signing_key: keys.signingKey,
      auditor_public_key: keys.auditorPub,
      ...auditExtra,
    },
    vault: { key: keys.vaultKey },
  };
}

// Starts a gateway under `policy` (YAML text, saved as `dir`/policy.yaml) with evidence from `keys`:
// its audit log in `dir`/audit (`auditOptions`: evidenceSections' options), captures sealed to the
// auditor. `config`: the rest of its gateway.yaml (tenants, backends...).
export async function startWithEvidence(dir, keys, policy, config, auditOptions = {}) {
  const policyFile = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policyFile, policy);
  return Gateway.start({ ...config, policy: policyFile, ...evidenceSections(keys, path.join(dir, 'audit'), auditOptions) });
}

// `sovereign audit verify DIR --key PUB [--require-closed]`: exit code, output and the counts of
// its summary line ("1/1 segments valid, 6/6 records valid, 4/4 checkpoints valid").
export async function auditVerify(auditDir, pubKey, { requireClosed = false } = {}) {
  const args = ['audit', 'verify', auditDir, '--key', pubKey, ...(requireClosed ? ['--require-closed'] : [])];
  const result = await runCli(args, { timeoutMs: 60000 });
  const summary = /(\d[\d,]*)\/(\d[\d,]*) segments valid, (\d[\d,]*)\/(\d[\d,]*) records valid, (\d[\d,]*)\/(\d[\d,]*) checkpoints valid/
    .exec(result.stdout);
  const n = (text) => Number(text.replace(/,/g, ''));
  const counts = summary ? {
    segments: [n(summary[1]), n(summary[2])],
    records: [n(summary[3]), n(summary[4])],
    checkpoints: [n(summary[5]), n(summary[6])],
  } : null;
  return { ...result, counts };
}

// Asserts that `audit verify` exits 0 and reports every segment, record and checkpoint valid;
// returns the counts. `requireClosed`: the log must also have been closed (a clean shutdown).
export async function assertAuditValid(auditDir, pubKey, options = {}) {
  const result = await auditVerify(auditDir, pubKey, options);
  assert.equal(result.code, 0, `audit verify ${auditDir} failed:\n${result.output}`);
  assert.ok(result.counts, `audit verify printed no summary line:\n${result.output}`);
  for (const [what, [valid, total]] of Object.entries(result.counts)) {
    assert.equal(valid, total, `${what}: ${valid}/${total} valid:\n${result.output}`);
  }
  assert.ok(result.counts.records[1] > 0, `the audit log holds no records:\n${result.output}`);
  return result.counts;
}

// `sovereign audit query DIR ARGS... --format json`: the records, each with its leaf_index.
export async function auditQuery(auditDir, args = []) {
  const result = await runCli(['audit', 'query', auditDir, ...args, '--format', 'json'], { timeoutMs: 60000 });
  assert.equal(result.code, 0, `audit query ${auditDir} ${args.join(' ')}:\n${result.output}`);
  return result.stdout.split('\n').filter((l) => l.trim() !== '').map((line) => {
    const parsed = JSON.parse(line);
    return { leaf: parsed.leaf_index, ...parsed.record };
  });
}

// The decision and outcome records of one request id, from records returned by auditQuery().
export function recordsOf(records, requestId) {
  const mine = records.filter((r) => r.request_id === requestId);
  return { decision: mine.filter((r) => r.kind === 'decision'), outcome: mine.filter((r) => r.kind === 'outcome') };
}

// Writes `dir`/`name`.yaml: a gateway.yaml with one worker, listeners on free loopback ports (also
// returned) and the loopback boundary, plus `sections` (tenants, backends, audit...), for a gateway
// the test starts itself (startGatewayFromFile, or a TrackedProcess of its own).
export async function writeServeConfig(dir, name, sections) {
  const ports = { api: await freePort(), admin: await freePort() };
  const configPath = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(configPath, toYaml({
    workers: 1,
    listeners: [{ name: 'api', address: '127.0.0.1', port: ports.api }],
    admin: { address: '127.0.0.1', port: ports.admin },
    boundary: ['127.0.0.1/32'],
    ...sections,
  }));
  return { configPath, ports };
}

// Starts `sovereign serve --config FILE` for a config the test wrote itself (listeners on
// `ports.api` / `ports.admin`), waits for /readyz. The returned Gateway's stop() would delete
// its directory, so callers that keep evidence there stop it with `gateway.process.stop()`.
export async function startGatewayFromFile(configPath, ports, { cwd, readyTimeoutMs = 30000 } = {}) {
  const config = { file: configPath };
  const gateway = new Gateway(path.dirname(configPath), configPath, ports, config,
    new TrackedProcess(gatewayBin(), ['serve', '--config', configPath], { cwd: cwd ?? path.dirname(configPath) }));
  gateway.describe = () => `config ${configPath}:\n${fs.readFileSync(configPath, 'utf8')}\n${gateway.process.describe()}`;
  await gateway.waitReady(readyTimeoutMs);
  return gateway;
}

// Stops a gateway with SIGTERM (the final checkpoint is written on the way out) and asserts a
// clean exit, keeping its directory.
export async function stopGracefully(gateway) {
  const status = await gateway.process.stop(15000);
  assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null },
    `the gateway did not exit cleanly on SIGTERM\n${gateway.process.describe()}`);
}

// Every file under `dir`, recursively (absolute paths).
export function filesUnder(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

// The sealed capture files whose names hold `id` (finished ones: the writer seals into a hidden
// temporary file, then links it into place).
export function capturesOf(captureDir, id) {
  return filesUnder(captureDir).filter((f) => path.basename(f).includes(id) && !path.basename(f).startsWith('.'));
}

// Replaces the capture directory with a regular file (which stops root as well as anyone else)
// and returns the function that puts it back.
export function blockCaptures(captureDir) {
  fs.renameSync(captureDir, `${captureDir}.moved`);
  fs.writeFileSync(captureDir, 'a file where the capture directory should be\n');
  return () => {
    fs.rmSync(captureDir);
    fs.renameSync(`${captureDir}.moved`, captureDir);
  };
}
