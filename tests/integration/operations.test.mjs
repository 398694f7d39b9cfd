// What the operator relies on: admin endpoints, Prometheus metrics that promtool accepts and that
// count what happened, a JSON access log without payloads, per-tenant rate limits, SIGHUP reload
// (a broken file is rejected and the old config keeps serving) and SIGTERM draining.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, gatewayBin, openaiBackend, tempDir, tenant } from './lib/gateway.mjs';
import { freePort } from './lib/ports.mjs';
import { TrackedProcess } from './lib/processes.mjs';
import { toYaml } from './lib/yaml.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { readSse } from './lib/http.mjs';
import { auditQuery, evidenceSections, initKeys, recordsOf } from './lib/evidence.mjs';

const KEY = 'sk-ops-tenant-secret';
const LIMITED_KEY = 'sk-ops-limited';
const COUNTED_KEY = 'sk-ops-counted';  // a tenant only the request-counting test uses
const MARKER = 'PAYLOAD-MARKER-7f3a9c-do-not-log';

const chat = (model, content = 'hello') => ({ model, messages: [{ role: 'user', content }] });

function opsConfig(upstream, { opsModels = ['ops-model'] } = {}) {
  return {
    tenants: [
      tenant({ name: 'ops', keys: [KEY], models: opsModels }),
      tenant({ name: 'limited', keys: [LIMITED_KEY], models: ['ops-model'], rate_limit: { requests_per_minute: 3 } }),
      tenant({ name: 'counted', keys: [COUNTED_KEY], models: ['ops-model'] }),
    ],
    backends: [openaiBackend({ name: 'ops-be', models: ['ops-model', 'extra-model'], upstreams: [upstream] })],
  };
}

// Around a describe block: an upstream with `upstreamOptions`, and a gateway in front of it with the
// ops configuration, started before its tests (`started` receives both) and stopped after them.
function withOpsGateway(upstreamOptions, started) {
  let upstream;
  let gw;
  before(async () => {
    upstream = await Upstream.start(upstreamOptions);
    gw = await Gateway.start(opsConfig(upstream));
    started({ upstream, gw });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });
}

describe('admin endpoints, metrics and access log', () => {
  let upstream;
  let gw;
  withOpsGateway({ name: 'ops-upstream' }, (started) => ({ upstream, gw } = started));

  it('/healthz and /readyz answer 200', async () => {
    assert.equal((await gw.admin('/healthz')).status, 200);
    assert.equal((await gw.admin('/readyz')).status, 200);
  });

  it('/metrics passes promtool check metrics', async () => {
    await gw.chat(KEY, chat('ops-model'));
    const res = await gw.admin('/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}\n--- metrics:\n${res.text}`);
  });

  it('every metric /metrics exposes is documented in docs/', async () => {
    // An operator builds dashboards and alerts from the docs: a series they do not name is one
    // nobody can tell the meaning of.
    const res = await gw.admin('/metrics');
    const exposed = [...res.text.matchAll(/^# TYPE (sovereign_[a-z_]+) /gm)].map((m) => m[1]);
    assert.ok(exposed.length > 10, res.text);
    const docsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '../../docs');
    const docs = fs.readdirSync(docsDir).filter((f) => f.endsWith('.md')).map((f) => fs.readFileSync(path.join(docsDir, f), 'utf8')).join('\n');
    const undocumented = exposed.filter((name) => !new RegExp(`\\b${name}\\b`).test(docs));
    assert.deepEqual(undocumented, [], 'metrics in /metrics that no docs/*.md names');
  });

  it('counts requests and their latency by tenant, model, backend and status', async () => {
    // A request is counted once its last byte is written, which can be just after the client has
    // read it; so this test's tenant sends nothing else, and the counts are awaited, then must be exact.
    const labels = { tenant: 'counted', model: 'ops-model', backend: 'ops-be' };
    const total = (m) => m.value('sovereign_http_requests_total', { ...labels, status: '200' });
    const count = (m) => m.value('sovereign_http_request_duration_seconds_count', { ...labels, status_class: '2xx' });
    for (let i = 0; i < 3; i++) assert.equal((await gw.chat(COUNTED_KEY, chat('ops-model'))).status, 200);
    const after = await gw.waitForMetrics((m) => total(m) >= 3 && count(m) >= 3, 5000, 'three requests counted');
    assert.equal(total(after), 3, after.text);
    assert.equal(count(after), 3, after.text);
    assert.equal(after.types.sovereign_http_request_duration_seconds, 'histogram');
    assert.ok(after.matching('sovereign_http_request_duration_seconds_bucket', { ...labels, status_class: '2xx', le: '+Inf' })
      .length === 1, after.text);
  });

  it('exports upstream health, pool use and active connections', async () => {
    const m = await gw.waitForMetrics((x) => x.value('sovereign_upstream_healthy', { backend: 'ops-be' }) === 1,
      5000, 'ops-be to be healthy');
    const healthy = m.matching('sovereign_upstream_healthy', { backend: 'ops-be' });
    assert.equal(healthy.length, 1, m.text);
    assert.ok(healthy[0].labels.replica, `replica label missing: ${JSON.stringify(healthy[0])}`);
    assert.ok(m.matching('sovereign_upstream_pool_connections', { backend: 'ops-be' }).every((s) => s.labels.state),
      'pool connections carry a state label');
    assert.ok(m.matching('sovereign_upstream_pool_connections', { backend: 'ops-be' }).length > 0, m.text);
    assert.ok(m.has('sovereign_connections_active'), m.text);
  });

  it('counts error answers under their status', async () => {
    // Counted once the answer's last byte is written (see above): awaited, then exact.
    const labelsFor = (m) => m.value('sovereign_http_requests_total', { status: '403' });
    const before = labelsFor(await gw.metrics());
    assert.equal((await gw.chat(KEY, chat('extra-model'))).status, 403);
    const after = await gw.waitForMetrics((m) => labelsFor(m) >= before + 1, 5000, 'the 403 counted');
    assert.equal(labelsFor(after), before + 1, after.text);
  });

  it('writes a JSON access log line per request without message content or keys', async () => {
    const res = await gw.chat(KEY, chat('ops-model', `please summarise ${MARKER}`));
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!gw.stderr.includes(MARKER), 'message content appeared in the log');
    assert.ok(!gw.stderr.includes(KEY), 'the API key appeared in the log');
    const entries = gw.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`a log line starting with { is not JSON: ${l}`);
      }
    });
    const access = entries.filter((e) => JSON.stringify(e).includes('/v1/chat/completions') && JSON.stringify(e).includes('"ops"'));
    assert.ok(access.length > 0, `no JSON access log line for the tenant's chat request:\n${gw.stderr}`);
  });
});

describe('per-tenant rate limit', () => {
  let upstream;
  let gw;
  withOpsGateway({ name: 'rl-upstream' }, (started) => ({ upstream, gw } = started));

  it('requests_per_minute: 3 lets three requests through, then 429 with Retry-After', async () => {
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await gw.chat(LIMITED_KEY, chat('ops-model')));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 429, 429], results.map((r) => r.text).join('\n'));
    for (const res of results.slice(3)) {
      assertError(res, { status: 429, code: 'rate_limit_exceeded' }, 'over the limit');
      assert.match(String(res.headers['retry-after']), /^[1-9][0-9]*$/, 'Retry-After is a positive number of seconds');
      assert.ok(Number(res.headers['retry-after']) <= 60, `Retry-After ${res.headers['retry-after']} exceeds the minute`);
    }
    const m = await gw.metrics();
    assert.equal(m.value('sovereign_rate_limited_total', { tenant: 'limited' }), 2, m.text);
  });

  it("one tenant's limit does not affect another tenant", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await gw.chat(KEY, chat('ops-model'))).status, 200);
  });
});

describe('SIGHUP reload', () => {
  let upstream;
  let gw;
  withOpsGateway({ name: 'reload-upstream' }, (started) => ({ upstream, gw } = started));

  const reloads = async (result) => (await gw.metrics()).value('sovereign_config_reloads_total', { result });
  const waitForReloads = (result, atLeast) => gw.waitForMetrics(
    (m) => m.value('sovereign_config_reloads_total', { result }) >= atLeast, 5000, `a reload counted as ${result}`);

  it('SIGHUP alone reloads the unchanged file and counts it as applied', async () => {
    const applied = await reloads('applied');
    gw.process.signal('SIGHUP');
    await waitForReloads('applied', applied + 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await reloads('applied'), applied + 1, 'one SIGHUP, one reload');
    assert.equal(await reloads('rejected'), 0);
    assert.equal((await gw.chat(KEY, chat('ops-model'))).status, 200);
  });

  it('a valid new file is applied: a newly permitted model becomes usable', async () => {
    assert.equal((await gw.chat(KEY, chat('extra-model'))).status, 403);
    const applied = await reloads('applied');
    await gw.reload(opsConfig(upstream, { opsModels: ['ops-model', 'extra-model'] }));
    await waitForReloads('applied', applied + 1);
    const res = await gw.chat(KEY, chat('extra-model'));
    assert.equal(res.status, 200, res.text);
  });

  it('a broken file is rejected with a log line naming the place, and the old config keeps serving', async () => {
    const rejected = await reloads('rejected');
    const stderrBefore = gw.stderr.length;
    await gw.reload('workers: 1\nlisteners:\n  - name: api\n    port: [not, a, port\n');
    await waitForReloads('rejected', rejected + 1);
    const log = await gw.waitForStderr(/reload_rejected/, stderrBefore, 5000, 'the rejection');
    assert.match(log, new RegExp(`${gw.configPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+`),
      `the rejection names FILE:LINE:COL:\n${log}`);
    const res = await gw.chat(KEY, chat('extra-model'));
    assert.equal(res.status, 200, `the previous config keeps serving: ${res.text}`);
    assert.equal((await gw.admin('/readyz')).status, 200);
  });

  it('a file whose quoted text is never closed is rejected at its opening quote, not read with the rest swallowed', async () => {
    const rejected = await reloads('rejected');
    const stderrBefore = gw.stderr.length;
    // The access log moved to the end, its quote left open: the line after it would be read into it.
    const lines = (await gw.configText(opsConfig(upstream))).split('\n').filter((l) => !l.startsWith('access_log:'));
    while (lines.at(-1) === '') lines.pop();
    const line = lines.push('access_log: "stderr', 'workers: 1') - 1;
    await gw.reload(`${lines.join('\n')}\n`);
    await waitForReloads('rejected', rejected + 1);
    const log = await gw.waitForStderr(/reload_rejected/, stderrBefore, 5000, 'the rejection');
    assert.ok(log.includes(`${gw.configPath}:${line}:13: YAML syntax error: the quoted text that starts here is never closed`), log);
    const res = await gw.chat(KEY, chat('extra-model'));
    assert.equal(res.status, 200, `the previous config (extra-model permitted) keeps serving: ${res.text}`);
  });

  it('new limits apply to connections made after the reload', async () => {
    const big = chat('ops-model');
    big.messages[0].content = 'x'.repeat(6000);
    const applied = await reloads('applied');
    await gw.reload({ ...opsConfig(upstream), limits: { max_body_bytes: 4096 } });
    await waitForReloads('applied', applied + 1);
    const refused = await gw.chat(KEY, big);
    assert.equal(refused.status, 413, `a 6 KB body over the reloaded 4 KB limit: ${refused.text}`);
    await gw.reload({ ...opsConfig(upstream), limits: { max_body_bytes: 65536 } });
    await waitForReloads('applied', applied + 2);
    const accepted = await gw.chat(KEY, big);
    assert.equal(accepted.status, 200, `the same body once the limit is raised: ${accepted.text}`);
  });

  it('a reload that changes the access log target or the workers is rejected, each at its FILE:LINE:COL (restart to change them)', async () => {
    const rejected = await reloads('rejected');
    const stderrBefore = gw.stderr.length;
    await gw.reload({ ...opsConfig(upstream), access_log: 'off', workers: 3 });
    await waitForReloads('rejected', rejected + 1);
    const log = await gw.waitForStderr(/reload_rejected/, stderrBefore, 5000, 'the rejection');
    const message = JSON.parse(log.split('\n').find((l) => l.includes('"reload_rejected"'))).message;
    // Where each setting is written in the reloaded file: its value follows "key: " at the top level.
    const written = fs.readFileSync(gw.configPath, 'utf8').split('\n');
    const at = (key) => `${gw.configPath}:${written.findIndex((l) => l.startsWith(`${key}: `)) + 1}:${key.length + 3}`;
    assert.ok(message.includes(`${at('workers')}: workers changed; it is fixed at start`), message);
    assert.ok(message.includes(`${at('access_log')}: access_log changed; it is fixed at start`), message);
    assert.match(message, /restart the gateway to change it; the previous configuration keeps serving$/, message);
    assert.equal((await gw.chat(KEY, chat('ops-model'))).status, 200);
  });

  it('a file with a semantic error (unknown key) is rejected too', async () => {
    const rejected = await reloads('rejected');
    await gw.reload({ ...opsConfig(upstream), tenats: [] });
    await waitForReloads('rejected', rejected + 1);
    assert.equal((await gw.chat(KEY, chat('ops-model'))).status, 200);
  });

  it('an edited gateway.yaml is applied on SIGHUP only, never half-saved by a file watcher', async () => {
    assert.equal((await gw.chat(KEY, chat('extra-model'))).status, 403);
    const applied = await reloads('applied');
    const rejected = await reloads('rejected');
    const text = await gw.configText(opsConfig(upstream, { opsModels: ['ops-model', 'extra-model'] }));
    await gw.writeConfig(text.slice(0, Math.floor(text.length / 2)));  // an editor's first write
    await new Promise((r) => setTimeout(r, 2500));  // the policy watcher looks every second
    await gw.writeConfig(text);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await reloads('applied'), applied, 'no reload without SIGHUP');
    assert.equal(await reloads('rejected'), rejected, 'the half-written file was never read');
    assert.equal((await gw.chat(KEY, chat('extra-model'))).status, 403, 'the edit is not in force yet');
    gw.process.signal('SIGHUP');
    await waitForReloads('applied', applied + 1);
    const res = await gw.chat(KEY, chat('extra-model'));
    assert.equal(res.status, 200, res.text);
  });
});

// Every worker binds the API port with SO_REUSEPORT; without a check, a second gateway started on
// the same port by mistake would bind it too and silently take part of the connections.
describe('a second gateway on ports the first one listens on', () => {
  let upstream;
  let gw;
  withOpsGateway({ name: 'port-upstream' }, (started) => ({ upstream, gw } = started));

  for (const taken of ['api', 'admin']) {
    it(`refuses to start on the first one's ${taken} port, naming it, and the first one keeps every connection`, async () => {
      const dir = tempDir();
      const api = taken === 'api' ? gw.apiPort : await freePort();
      const admin = taken === 'admin' ? gw.adminPort : await freePort();
      const configPath = path.join(dir, 'gateway.yaml');
      fs.writeFileSync(configPath, toYaml({
        workers: 2,
        listeners: [{ name: 'api', address: '127.0.0.1', port: api }],
        admin: { address: '127.0.0.1', port: admin },
        boundary: ['127.0.0.1/32'],
        ...opsConfig(upstream),
        access_log: 'stderr',
      }));
      const second = new TrackedProcess(gatewayBin(), ['serve', '--config', configPath], { cwd: dir });
      const status = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r('running'), 10000))]);
      if (status === 'running') second.signal('SIGKILL');
      assert.notEqual(status, 'running', `the second gateway kept running\n${second.describe()}`);
      assert.notEqual(status.code, 0, second.describe());
      const port = taken === 'api' ? api : admin;
      assert.match(second.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`), second.describe());
      for (let i = 0; i < 10; i++) {
        const res = await gw.chat(KEY, chat('ops-model'));
        assert.equal(res.status, 200, res.text);
      }
      assert.equal((await gw.admin('/readyz')).status, 200);
    });
  }
});

describe('SIGTERM', () => {
  let upstream;
  let gw;
  withOpsGateway({ name: 'drain-upstream', 'first-byte-delay-ms': 1500 }, (started) => ({ upstream, gw } = started));

  it('lets an in-flight request finish, then exits 0 and stops listening', async () => {
    const inFlight = gw.chat(KEY, chat('ops-model'));
    await upstream.waitForEvent((e) => e.event === 'request' && e.method === 'POST', 5000, 'the request to reach the upstream');
    gw.process.signal('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200, `in-flight request: ${res.text}`);
    assert.equal(res.json.choices[0].message.content, 'Hello from the upstream');
    const status = await gw.process.exited;
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null }, gw.describe());
    const refused = await new Promise((resolve) => {
      const socket = net.connect({ port: gw.apiPort, host: '127.0.0.1' });
      socket.on('connect', () => { socket.destroy(); resolve(false); });
      socket.on('error', (err) => resolve(err.code === 'ECONNREFUSED'));
    });
    assert.ok(refused, 'the API port is closed after exit');
  });
});

// Requests still running when limits.drain_timeout_ms passes are ended with an error the client can
// read, and recorded (access log, outcome record), before the gateway exits.
describe('SIGTERM past drain_timeout_ms', () => {
  let slow;
  let streaming;
  let gw;
  let dir;

  before(async () => {
    dir = tempDir('sovereign-drain-timeout-');
    slow = await Upstream.start({ name: 'drain-slow', 'first-byte-delay-ms': 20000 });
    streaming = await Upstream.start({ name: 'drain-stream', chunks: 100, 'chunk-delay-ms': 200 });
    const keys = await initKeys(path.join(dir, 'keys'));
    gw = await Gateway.start({
      tenants: [tenant({ name: 'ops', keys: [KEY], models: ['slow-model', 'stream-model'] })],
      backends: [
        openaiBackend({ name: 'slow-be', models: ['slow-model'], upstreams: [slow] }),
        openaiBackend({ name: 'stream-be', models: ['stream-model'], upstreams: [streaming] }),
      ],
      limits: { drain_timeout_ms: 1000 },
      access_log: 'stderr',
      ...evidenceSections(keys, path.join(dir, 'audit')),
    });
  });

  after(async () => {
    await gw?.stop();
    await slow?.stop();
    await streaming?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 shutting_down, ends streams with an error event, records both, then exits 0', async () => {
    const waiting = gw.chat(KEY, chat('slow-model'));
    let sigterm;
    const firstEvent = new Promise((resolve) => { sigterm = resolve; });
    const stream = readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` },
      body: { ...chat('stream-model'), stream: true }, onEvent: () => sigterm() });
    await slow.waitForEvent((e) => e.event === 'request' && e.method === 'POST', 5000, 'the slow request to reach its upstream');
    await firstEvent;
    gw.process.signal('SIGTERM');

    const res = await waiting;
    assertError(res, { status: 503, code: 'shutting_down' }, 'a request waiting for its backend');
    const streamed = await stream;
    assert.equal(streamed.status, 200);
    const last = streamed.events.at(-1);
    assert.equal(JSON.parse(last.data).error?.code, 'shutting_down', `the stream's last event: ${last.data}`);
    assert.ok(streamed.events.length < 50, 'the stream was ended before the upstream finished');

    const status = await gw.process.exited;
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null }, gw.describe());
    assert.match(gw.stderr, /"event":"drain_timeout"/);
    const access = gw.stderr.split('\n').filter((l) => l.includes('"type":"access"')).map((l) => JSON.parse(l));
    const ids = [res.headers['x-request-id'], streamed.headers['x-request-id']];
    for (const id of ids) assert.ok(access.some((a) => a.request_id === id), `an access log line for ${id}\n${gw.stderr}`);
    const records = await auditQuery(path.join(dir, 'audit'));
    for (const id of ids) {
      const { decision, outcome } = recordsOf(records, id);
      assert.equal(decision.length, 1, `the decision record of ${id}`);
      assert.equal(outcome.length, 1, `the outcome record of ${id}`);
      assert.equal(outcome[0].error, 'shutting_down', JSON.stringify(outcome[0]));
    }
  });
});

describe('SIGTERM with pooled upstream connections', () => {
  let upstream;
  let gw;
  withOpsGateway({ name: 'pool-upstream' }, (started) => ({ upstream, gw } = started));

  // The pools hold keep-alive sockets of the workers' event loops; tearing those loops down before
  // the pools once corrupted the heap at exit (about every other run under load).
  it('exits 0 after concurrent traffic has filled the keep-alive pools', async () => {
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(Array.from({ length: 24 }, () => gw.chat(KEY, chat('ops-model'))));
      for (const res of answers) assert.equal(res.status, 200, res.text);
    }
    gw.process.signal('SIGTERM');
    const status = await gw.process.exited;
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 0, signal: null }, gw.describe());
  });
});
