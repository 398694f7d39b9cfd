// A backend replica named by a host name that does not resolve is a DNS failure, not an egress
// refusal: the gateway starts and is ready, the replica counts as down (sovereign_upstream_healthy 0,
// sovereign_upstream_unresolved 1), requests only it could serve get 503 backend_unresolved naming the
// host and the resolver's reason, and the name is resolved again every health-check interval. Once it
// resolves, its addresses are checked against the boundary as at load and pinned; a pinned name is
// never resolved again until a reload. Names under .invalid (RFC 6761) never resolve; names the test
// makes resolve later live in an /etc/hosts of the gateway's own (a private mount namespace), never
// in the machine's.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, tenant, tempDir, privateHostsSupported } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-resolution-tenant';
const chat = (model) => ({ model, messages: [{ role: 'user', content: 'hello' }] });
const events = (gw, name) => gw.stderr.split('\n').filter((l) => l.includes(`"event":"${name}"`));

describe('replica names that do not resolve', { timeout: 60000 }, () => {
  const HOST = 'replica.sovereign-itest.invalid';
  let good;
  let gw;
  let unresolvedUrl;

  before(async () => {
    good = await Upstream.start({ name: 'good' });
    unresolvedUrl = `http://${HOST}:${good.port}`;
    gw = await Gateway.start({
      tenants: [tenant({ name: 'resolution', keys: [KEY], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'be-dns', models: ['m-dns'], urls: [unresolvedUrl] }),
        openaiBackend({ name: 'be-mixed', models: ['m-mixed'], urls: [unresolvedUrl, good.url] }),
        // 127.0.0.2 lies outside the boundary (127.0.0.1/32): refused at load.
        openaiBackend({ name: 'be-refused-dns', models: ['m-refused-dns'], urls: [unresolvedUrl, `http://127.0.0.2:${good.port}`] }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await good?.stop();
  });

  it('the gateway starts and is ready, as with a replica that is down', async () => {
    const ready = await gw.admin('/readyz');
    assert.equal(ready.status, 200, ready.text);
  });

  it('a request only that replica could serve gets 503 backend_unresolved naming the host and the reason', async () => {
    const res = await gw.chat(KEY, chat('m-dns'));
    assertError(res, { status: 503, type: 'service_unavailable_error', code: 'backend_unresolved' }, 'unresolved replica');
    const message = res.json.error.message;
    assert.ok(message.startsWith(`No backend for model 'm-dns' can be reached now: backend 'be-dns' replica ${unresolvedUrl}: ` +
      `cannot resolve '${HOST}': `), message);
    // The resolver's own words follow the host, then when it is tried again.
    assert.match(message, new RegExp(`cannot resolve '${HOST.replaceAll('.', '\\.')}': [^;]*\\S; the gateway resolves it again every 200 ms\\.$`));
  });

  it('is not counted or logged as an egress refusal', async () => {
    await gw.chat(KEY, chat('m-dns'));
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_egress_refusals_total', { backend: 'be-dns' }), 0, metrics.text);
    assert.ok(metrics.matching('sovereign_egress_refusals_total', { backend: 'be-dns' }).length === 1,
      'the backend has its egress series, at 0');
    assert.deepEqual(events(gw, 'egress_refused').filter((l) => l.includes(HOST)), [], 'no egress_refused line for the name');
  });

  it('shows the replica down and unresolved in /metrics, and logs backend_unresolved naming it', async () => {
    const metrics = await gw.metrics();
    for (const backend of ['be-dns', 'be-mixed']) {
      assert.equal(metrics.value('sovereign_upstream_healthy', { backend, replica: unresolvedUrl }), 0, `${backend}\n${metrics.text}`);
      assert.equal(metrics.matching('sovereign_upstream_healthy', { backend, replica: unresolvedUrl }).length, 1);
      assert.equal(metrics.value('sovereign_upstream_unresolved', { backend, replica: unresolvedUrl }), 1, backend);
    }
    assert.equal(metrics.value('sovereign_upstream_healthy', { backend: 'be-mixed', replica: good.url }), 1);
    assert.equal(metrics.value('sovereign_upstream_unresolved', { backend: 'be-mixed', replica: good.url }), 0);
    const logged = events(gw, 'backend_unresolved');
    assert.ok(logged.some((l) => l.includes("backend 'be-dns'") && l.includes(`cannot resolve '${HOST}'`) && /"level":"warn"/.test(l)),
      `no backend_unresolved line for be-dns:\n${gw.stderr}`);
  });

  it('resolves the name again every health-check interval, counting each failure, without logging each', async () => {
    const failures = async () => (await gw.metrics()).value('sovereign_upstream_resolution_failures_total', { backend: 'be-dns' });
    const first = await failures();
    assert.ok(first >= 1, `the failure at load is counted (${first})`);
    await gw.waitForMetrics((m) => m.value('sovereign_upstream_resolution_failures_total', { backend: 'be-dns' }) >= first + 3,
      5000, 'three more failed resolutions of be-dns\'s replica');
    // One line per replica and reason, not one per attempt.
    assert.equal(events(gw, 'backend_unresolved').filter((l) => l.includes("backend 'be-dns'")).length, 1, gw.stderr);
  });

  it('a request whose replicas are refused or unresolved gets 503 egress_refused: the refusal holds until a reload', async () => {
    const refusalsBefore = (await gw.metrics()).value('sovereign_egress_refusals_total', { backend: 'be-refused-dns' });
    const res = await gw.chat(KEY, chat('m-refused-dns'));
    assertError(res, { status: 503, code: 'egress_refused' }, 'refused and unresolved replicas');
    assert.match(res.json.error.message, /'127\.0\.0\.2' resolves to 127\.0\.0\.2, which is outside the boundary/);
    const metrics = await gw.metrics();
    assert.equal(metrics.value('sovereign_egress_refusals_total', { backend: 'be-refused-dns' }), refusalsBefore + 1, metrics.text);
  });

  it('a backend with another replica serves from it, sending nothing anywhere else', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await gw.chat(KEY, chat('m-mixed'));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.system_fingerprint, 'good');
    }
  });
});

const noPrivateHosts = privateHostsSupported();

describe('replica names that resolve later', { timeout: 60000, skip: noPrivateHosts ?? false }, () => {
  // .test (RFC 6761) names: no DNS server answers them; only the gateway's own hosts file does.
  const LATER = 'later.sovereign-itest.test';
  const OUTSIDE = 'outside.sovereign-itest.test';
  const STABLE = 'stable.sovereign-itest.test';
  let dir;
  let hostsFile;
  let good;
  let gw;
  let config;

  // Rewritten in place: the file bind-mounted over the gateway's /etc/hosts is this very inode.
  const writeHosts = (entries) =>
    fs.writeFileSync(hostsFile, ['127.0.0.1 localhost', ...entries.map(([address, name]) => `${address} ${name}`)].join('\n') + '\n');

  before(async () => {
    dir = tempDir('sovereign-resolution-itest-');
    hostsFile = path.join(dir, 'hosts');
    writeHosts([['127.0.0.1', STABLE]]);
    good = await Upstream.start({ name: 'good' });
    config = {
      tenants: [tenant({ name: 'resolution', keys: [KEY], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'be-later', models: ['m-later'], urls: [`http://${LATER}:${good.port}`] }),
        openaiBackend({ name: 'be-outside', models: ['m-outside'], urls: [`http://${OUTSIDE}:${good.port}`] }),
        openaiBackend({ name: 'be-stable', models: ['m-stable'], urls: [`http://${STABLE}:${good.port}`] }),
      ],
    };
    gw = await Gateway.start(config, { hostsFile });
  });

  after(async () => {
    await gw?.stop();
    await good?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const replica = (backend, host) => ({ backend, replica: `http://${host}:${good.port}` });

  it('before the names resolve, their models get 503 backend_unresolved and the resolved one serves', async () => {
    assertError(await gw.chat(KEY, chat('m-later')), { status: 503, code: 'backend_unresolved' }, 'm-later');
    assertError(await gw.chat(KEY, chat('m-outside')), { status: 503, code: 'backend_unresolved' }, 'm-outside');
    const res = await gw.chat(KEY, chat('m-stable'));
    assert.equal(res.status, 200, res.text);
  });

  it('once a name resolves, it is checked against the boundary: pinned inside it, refused outside it', async () => {
    const from = gw.stderr.length;
    writeHosts([['127.0.0.1', STABLE], ['127.0.0.1', LATER], ['127.0.0.2', OUTSIDE]]);
    await gw.waitForMetrics((m) => m.value('sovereign_upstream_unresolved', replica('be-later', LATER)) === 0 &&
      m.value('sovereign_upstream_unresolved', replica('be-outside', OUTSIDE)) === 0, 5000, 'both names to resolve');
    const log = await gw.waitForStderr(/"event":"egress_refused"/, from, 5000, 'the refusal of the outside name');
    assert.match(log, new RegExp(`"event":"backend_resolved".*be-later.*'${LATER}' resolves to 127\\.0\\.0\\.1`));
    assert.match(log, new RegExp(`"event":"egress_refused".*be-outside.*'${OUTSIDE}' resolves to 127\\.0\\.0\\.2, which is outside the boundary`));
    const later = await gw.chat(KEY, chat('m-later'));
    assert.equal(later.status, 200, later.text);
    assert.equal(later.json.system_fingerprint, 'good');
    assertError(await gw.chat(KEY, chat('m-outside')), { status: 503, code: 'egress_refused' }, 'm-outside');
    const metrics = await gw.waitForMetrics((m) => m.value('sovereign_upstream_healthy', replica('be-later', LATER)) === 1,
      5000, 'the resolved replica to be reported healthy');
    assert.equal(metrics.value('sovereign_upstream_healthy', replica('be-outside', OUTSIDE)), 0);
    assert.ok(metrics.value('sovereign_egress_refusals_total', { backend: 'be-outside' }) >= 1, metrics.text);
  });

  it('a pinned name is never resolved again: a changed answer redirects nothing until a reload', async () => {
    const resolvedBefore = events(gw, 'backend_resolved').length;
    writeHosts([['127.0.0.2', STABLE], ['127.0.0.2', LATER], ['127.0.0.2', OUTSIDE]]);
    await new Promise((r) => setTimeout(r, 1000));  // five health-check intervals
    for (const model of ['m-later', 'm-stable']) {
      const res = await gw.chat(KEY, chat(model));
      assert.equal(res.status, 200, `${model}: ${res.text}`);
      assert.equal(res.json.system_fingerprint, 'good');
    }
    assert.equal(events(gw, 'backend_resolved').length, resolvedBefore);

    // A reload resolves every name afresh: both now resolve outside the boundary.
    const from = gw.stderr.length;
    await gw.reload(config);
    await gw.waitForStderr(/"event":"reloaded"/, from, 10000, 'the reload');
    for (const model of ['m-later', 'm-stable'])
      assertError(await gw.chat(KEY, chat(model)), { status: 503, code: 'egress_refused' }, `${model} after the reload`);
  });
});

// A DNS server that takes queries and never answers, on 127.0.0.9:53 of this machine; the gateway
// alone is sent to it (a private /etc/resolv.conf in its own mount namespace, which gives glibc 30 s
// a try, 5 tries: far past the gateway's 10 s limit). Binding port 53 takes the right to (root, or
// CAP_NET_BIND_SERVICE); without it these tests are skipped.
const SILENT_DNS = '127.0.0.9';
async function bindSilentDns() {
  const socket = dgram.createSocket('udp4');
  socket.queries = 0;
  socket.on('message', () => { socket.queries++; });
  try {
    await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(53, SILENT_DNS, resolve);
    });
    return { socket };
  } catch (err) {
    socket.close();
    return { skip: `cannot bind ${SILENT_DNS}:53 for a DNS server that never answers: ${err.message}` };
  }
}
const silentDns = noPrivateHosts ? { skip: noPrivateHosts } : await bindSilentDns();

describe('a DNS server that never answers', { timeout: 120000, skip: silentDns.skip ?? false }, () => {
  const HANG_A = 'hang-a.sovereign-itest.test';
  const HANG_B = 'hang-b.sovereign-itest.test';
  const LIMIT_MS = 10000;
  let dir;
  let hostsFile;
  let resolvConf;
  let good;
  const started = [];

  const config = (withHanging) => ({
    tenants: [tenant({ name: 'resolution', keys: [KEY], models: ['*'] })],
    backends: [
      openaiBackend({ name: 'be-ok', models: ['m-ok'], urls: [good.url] }),
      ...(withHanging ? [
        openaiBackend({ name: 'be-hang-a', models: ['m-hang-a'], urls: [`http://${HANG_A}:${good.port}`] }),
        openaiBackend({ name: 'be-hang-b', models: ['m-hang-b'], urls: [`http://${HANG_B}:${good.port}`] }),
      ] : []),
    ],
  });
  const start = async (withHanging, { config: given, ...options } = {}) => {
    const gw = await Gateway.start(given ?? config(withHanging), { hostsFile, resolvConf, ...options });
    started.push(gw);
    return gw;
  };
  // The time `promise` took, in ms, with what it gave.
  const timed = async (promise) => {
    const from = Date.now();
    const value = await promise;
    return { value, ms: Date.now() - from };
  };
  // Resolves with the process's exit, or with null if it has not exited within `ms`.
  const exitWithin = (gw, ms) => Promise.race([gw.process.exited, new Promise((r) => setTimeout(() => r(null), ms))]);

  before(async () => {
    dir = tempDir('sovereign-silent-dns-itest-');
    hostsFile = path.join(dir, 'hosts');
    resolvConf = path.join(dir, 'resolv.conf');
    fs.writeFileSync(hostsFile, '127.0.0.1 localhost\n');
    fs.writeFileSync(resolvConf, `nameserver ${SILENT_DNS}\noptions timeout:30 attempts:5\n`);
    good = await Upstream.start({ name: 'good' });
  });

  after(async () => {
    for (const gw of started) if (gw.process.running) await gw.stop();
    await good?.stop();
    silentDns.socket?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('at start, the names are looked up at once, each given 10 s; past it the replica starts unresolved', async () => {
    const queriesBefore = silentDns.socket.queries;
    const { value: gw, ms } = await timed(start(true, { readyTimeoutMs: 30000 }));
    assert.ok(silentDns.socket.queries > queriesBefore, 'the gateway asked the silent DNS server');
    // Both names in parallel: about one limit, not two (nor glibc's own minutes).
    assert.ok(ms >= LIMIT_MS - 500 && ms < 2 * LIMIT_MS - 2000, `ready after ${ms} ms`);
    const metrics = await gw.metrics();
    for (const [backend, host] of [['be-hang-a', HANG_A], ['be-hang-b', HANG_B]])
      assert.equal(metrics.value('sovereign_upstream_unresolved', { backend, replica: `http://${host}:${good.port}` }), 1, backend);
    const res = await gw.chat(KEY, chat('m-hang-a'));
    assertError(res, { status: 503, code: 'backend_unresolved' }, 'm-hang-a');
    assert.match(res.json.error.message, new RegExp(`cannot resolve '${HANG_A.replaceAll('.', '\\.')}': no answer within ${LIMIT_MS} ms`));
    assert.equal((await gw.chat(KEY, chat('m-ok'))).status, 200);

    // Its retries are stuck in glibc too (one every 200 ms): SIGTERM still ends it at once.
    const { value: status, ms: stopMs } = await timed(gw.stop());
    assert.equal(status.code, 0, gw.stderr);
    assert.ok(stopMs < 5000, `stopped after ${stopMs} ms`);
  });

  it('a SIGTERM while the names of the first configuration are looked up ends the gateway at once', async () => {
    const queriesBefore = silentDns.socket.queries;
    const gw = await start(true, { waitReady: false });
    const deadline = Date.now() + 10000;
    while (silentDns.socket.queries === queriesBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(silentDns.socket.queries > queriesBefore, `no query reached the silent DNS server\n${gw.stderr}`);
    // Not serving yet, but the admin endpoints answer at once: alive, not ready, and why.
    const { value: health, ms: healthMs } = await timed(gw.admin('/healthz'));
    assert.equal(health.status, 200, health.text);
    assert.ok(healthMs < 1000, `/healthz took ${healthMs} ms while the names were looked up`);
    const ready = await gw.admin('/readyz');
    assert.equal(ready.status, 503, ready.text);
    assert.deepEqual(JSON.parse(ready.text),
      { status: 'not ready', reason: "starting: the backends' host names are being looked up" });
    const { value: metrics, ms: metricsMs } = await timed(gw.admin('/metrics'));
    assert.equal(metrics.status, 200, metrics.text);
    assert.ok(metricsMs < 1000, `/metrics took ${metricsMs} ms while the names were looked up`);
    gw.process.signal('SIGTERM');
    const exited = await exitWithin(gw, 3000);
    assert.ok(exited, `still running 3 s after SIGTERM\n${gw.stderr}`);
    assert.equal(exited.code, 0, gw.stderr);
    assert.match(gw.stderr, /"event":"stopped".*stopped before serving/);
  });

  it('a reload that looks up names keeps the admin endpoints, the old configuration and SIGTERM answering', async () => {
    const gw = await start(false);
    const from = gw.stderr.length;
    const { ms: reloadMs } = await timed((async () => {
      await gw.reload(config(true));
      // While the reload waits for the silent server, the control thread answers at once.
      for (let i = 0; i < 5; i++) {
        const { value: ready, ms } = await timed(gw.admin('/readyz'));
        assert.equal(ready.status, 200, ready.text);
        assert.ok(ms < 1000, `/readyz took ${ms} ms during the reload`);
        const { ms: metricsMs } = await timed(gw.metrics());
        assert.ok(metricsMs < 1000, `/metrics took ${metricsMs} ms during the reload`);
        assert.equal((await gw.chat(KEY, chat('m-ok'))).status, 200);
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(!/"event":"reloaded"/.test(gw.stderr.slice(from)), 'the reload waits for its names');
      await gw.waitForStderr(/"event":"reloaded"/, from, 2 * LIMIT_MS, 'the reload');
    })());
    assert.ok(reloadMs < 2 * LIMIT_MS - 2000, `both names at once: reloaded after ${reloadMs} ms`);
    assertError(await gw.chat(KEY, chat('m-hang-b')), { status: 503, code: 'backend_unresolved' }, 'm-hang-b after the reload');

    // More reloads, hung on the same names: they wait for the lookups still in glibc rather than
    // start threads of their own (one per name, however many loads and retries ask).
    const threads = () => Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${gw.process.pid}/status`, 'utf8'))[1]);
    const threadsBefore = threads();
    for (let i = 0; i < 3; i++) {
      gw.process.signal('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(threads() - threadsBefore < 2, `threads: ${threadsBefore} before three reloads, ${threads()} after`);
    // SIGTERM drains and ends the gateway within the drain time, the reload still waiting.
    gw.process.signal('SIGTERM');
    const exited = await exitWithin(gw, 5000);
    assert.ok(exited, `still running 5 s after SIGTERM\n${gw.stderr}`);
    assert.equal(exited.code, 0, gw.stderr);
    assert.match(gw.stderr, /"event":"stopped"/);
  });

  // A problem found without the network (here a port another process holds) is not held back by
  // names the DNS server never answers: the gateway exits 1 at once, naming the setting.
  for (const taken of ['api', 'admin']) {
    it(`with a name still being looked up, a start on a ${taken} port in use exits 1 at once, naming the port`, async () => {
      const base = config(true);
      const where = taken === 'api'
        ? { listeners: [{ name: 'api', address: '127.0.0.1', port: good.port }] }
        : { admin: { address: '127.0.0.1', port: good.port } };
      const { value: gw, ms } = await timed((async () => {
        const gw = await start(true, { config: { ...base, ...where }, waitReady: false });
        await exitWithin(gw, LIMIT_MS / 2);
        return gw;
      })());
      try {
        assert.ok(!gw.process.running, `still running ${ms} ms after the start\n${gw.stderr}`);
        assert.ok(ms < 3000, `exited after ${ms} ms`);
        assert.equal((await gw.process.exited).code, 1, gw.stderr);
        const text = fs.readFileSync(gw.configPath, 'utf8').split('\n');
        const line = text.findIndex((l) => new RegExp(`^\\s*port: ${good.port}$`).test(l)) + 1;
        assert.ok(line > 0, text.join('\n'));
        const listener = taken === 'admin' ? 'admin listener: ' : '';
        assert.match(gw.stderr, new RegExp(`"event":"startup_failed".*gateway\\.yaml:${line}:\\d+: ${listener}` +
          `cannot listen on 127\\.0\\.0\\.1:${good.port}: Address already in use`), gw.stderr);
        assert.ok(!/"event":"started"/.test(gw.stderr), gw.stderr);
      } finally {
        fs.rmSync(gw.dir, { recursive: true, force: true });
      }
    });
  }

  // A reload is built, then waits for its lookups while the configuration in force goes on checking
  // the replicas: what those checks find meanwhile is what the reload starts from once installed.
  // The checks here are slow to change their mind (every second, three failures or two passes), so a
  // reload that started from what was known when it was built would be seen wrong for seconds.
  it('a replica that goes down or comes back while a reload looks up its names is seen so once the reload applies', async () => {
    let flaky = await Upstream.start({ name: 'flaky' });
    const flakyPort = flaky.port;
    const flakyReplica = { backend: 'be-flaky', replica: flaky.url };
    const flakyConfig = (withHanging) => {
      const base = config(withHanging);
      base.backends.push(openaiBackend({ name: 'be-flaky', models: ['m-flaky'], urls: [flaky.url],
        health: { interval_ms: 1000, timeout_ms: 300, unhealthy_after: 3, healthy_after: 2 } }));
      return base;
    };
    const gw = await start(false, { config: flakyConfig(false) });
    try {
      await gw.waitForMetrics((m) => m.value('sovereign_upstream_healthy', flakyReplica) === 1, 5000, 'be-flaky to be healthy');

      // Down while the reload waits for the silent DNS server.
      let from = gw.stderr.length;
      await gw.reload(flakyConfig(true));
      await flaky.stop();
      await gw.waitForMetrics((m) => m.value('sovereign_upstream_healthy', flakyReplica) === 0, 8000,
        'the configuration in force to find be-flaky down');
      assert.ok(!/"event":"reloaded"/.test(gw.stderr.slice(from)), 'the reload was still looking up its names');
      await gw.waitForStderr(/"event":"reloaded"/, from, 2 * LIMIT_MS, 'the reload');
      assert.equal((await gw.metrics()).value('sovereign_upstream_healthy', flakyReplica), 0,
        'right after the reload be-flaky is still known to be down');
      assertError(await gw.chat(KEY, chat('m-flaky')), { status: 503 }, 'm-flaky right after the reload');

      // Back while the next reload waits (its name is still stuck in glibc: another 10 s).
      from = gw.stderr.length;
      gw.process.signal('SIGHUP');
      flaky = await Upstream.start({ name: 'flaky', port: flakyPort });
      await gw.waitForMetrics((m) => m.value('sovereign_upstream_healthy', flakyReplica) === 1, 8000,
        'the configuration in force to find be-flaky back');
      assert.ok(!/"event":"reloaded"/.test(gw.stderr.slice(from)), 'the reload was still looking up its names');
      await gw.waitForStderr(/"event":"reloaded"/, from, 2 * LIMIT_MS, 'the second reload');
      assert.equal((await gw.metrics()).value('sovereign_upstream_healthy', flakyReplica), 1,
        'right after the reload be-flaky is known to be back');
      const res = await gw.chat(KEY, chat('m-flaky'));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.system_fingerprint, 'flaky');
    } finally {
      await flaky.stop();
    }
  });
});
