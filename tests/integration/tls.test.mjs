// TLS at both ends, with certificates made by the openssl CLI for this run: the API listener
// speaks TLS 1.3 (1.2 allowed), refuses 1.0 and 1.1, and maps client certificates (mTLS) to
// tenants; a TLS backend is reached with its pinned CA, its verified server name and the
// gateway's client certificate.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import tls from 'node:tls';
import { Gateway, openaiBackend, tempDir, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { makePki, makeServerCertificate } from './lib/certs.mjs';
import { request } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-tls-tenant';

describe('TLS', () => {
  let pki;
  let plainUpstream;
  let tlsUpstream;
  let pinnedWrong;
  let wrongName;
  let slowUpstream;
  const replicaUpstreams = [];  // each with a certificate for its own address only
  let gw;

  before(async () => {
    pki = makePki(tempDir('sovereign-pki-'));
    plainUpstream = await Upstream.start({ name: 'plain' });
    tlsUpstream = await Upstream.start({ name: 'tls-backend', 'tls-cert': pki.backend.cert, 'tls-key': pki.backend.key,
      'tls-client-ca': pki.ca });
    pinnedWrong = await Upstream.start({ name: 'tls-wrong-pin', 'tls-cert': pki.backend.cert, 'tls-key': pki.backend.key });
    wrongName = await Upstream.start({ name: 'tls-wrong-name', 'tls-cert': pki.backend.cert, 'tls-key': pki.backend.key });
    slowUpstream = await Upstream.start({ name: 'slow', 'first-byte-delay-ms': 4000 });
    for (const address of ['127.0.0.1', '127.0.0.2']) {
      const certificate = makeServerCertificate(pki, `replica-${address}`, `IP:${address}`);
      replicaUpstreams.push(await Upstream.start({ name: `replica-${address}`, host: address,
        'tls-cert': certificate.cert, 'tls-key': certificate.key }));
    }
    const backendTls = { ca: pki.ca, server_name: pki.backendName,
      client_certificate: pki.gatewayClient.cert, client_key: pki.gatewayClient.key };
    gw = await Gateway.start({
      listenerTls: { certificate: pki.server.cert, private_key: pki.server.key, client_ca: pki.ca,
        require_client_certificate: false },
      tenants: [
        tenant({ name: 'radiology', keys: [KEY],
          models: ['plain-model', 'tls-model', 'wrong-pin-model', 'wrong-name-model', 'slow-model', 'replicas-model'],
          client_certificates: [{ subject_cn: pki.clientCn }] }),
      ],
      boundary: ['127.0.0.1/32', '127.0.0.2/32'],
      backends: [
        openaiBackend({ name: 'plain-be', models: ['plain-model'], upstreams: [plainUpstream] }),
        // No server_name: each replica's certificate is verified against its own address.
        openaiBackend({ name: 'replicas-be', models: ['replicas-model'], tls: { ca: pki.ca },
          urls: replicaUpstreams.map((u) => `https://${u.host}:${u.port}`), health: { interval_ms: 60000, unhealthy_after: 1000 } }),
        openaiBackend({ name: 'slow-be', models: ['slow-model'], upstreams: [slowUpstream] }),
        openaiBackend({ name: 'tls-be', models: ['tls-model'], urls: [`https://127.0.0.1:${tlsUpstream.port}`], tls: backendTls }),
        // Trusts only the rogue CA, so the genuine backend certificate must be refused. Kept in
        // rotation like wrong-name-be below, so that requests meet the refusal in the forwarder.
        openaiBackend({ name: 'wrong-pin-be', models: ['wrong-pin-model'], urls: [`https://127.0.0.1:${pinnedWrong.port}`],
          tls: { ca: `${pki.dir}/rogue-ca.crt`, server_name: pki.backendName }, health: { interval_ms: 60000, unhealthy_after: 1000 } }),
        // The right CA, but a server name the backend certificate does not carry. Health checks
        // (which fail the same way) never mark it down during the test, so requests reach the
        // forwarder and its handshake.
        openaiBackend({ name: 'wrong-name-be', models: ['wrong-name-model'], urls: [`https://127.0.0.1:${wrongName.port}`],
          tls: { ca: pki.ca, server_name: 'not-the-backend.internal' }, health: { interval_ms: 60000, unhealthy_after: 1000 } }),
        // The same two refusals met by the health check at startup, which logs them.
        openaiBackend({ name: 'wrong-pin-checked', models: ['wrong-pin-checked-model'], urls: [`https://127.0.0.1:${pinnedWrong.port}`],
          tls: { ca: `${pki.dir}/rogue-ca.crt`, server_name: pki.backendName }, health: { interval_ms: 60000, unhealthy_after: 1 } }),
        openaiBackend({ name: 'wrong-name-checked', models: ['wrong-name-checked-model'], urls: [`https://127.0.0.1:${wrongName.port}`],
          tls: { ca: pki.ca, server_name: 'not-the-backend.internal' }, health: { interval_ms: 60000, unhealthy_after: 1 } }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([plainUpstream, tlsUpstream, pinnedWrong, wrongName, slowUpstream, ...replicaUpstreams].map((u) => u?.stop()));
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  // openssl s_client with the security level lowered on the client side, so that a refusal
  // can only come from the server.
  function sClient(versionFlag) {
    return spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${gw.apiPort}`, versionFlag, '-CAfile', pki.ca,
      '-verify_return_error', '-cipher', 'DEFAULT@SECLEVEL=0', '-servername', 'localhost'],
    { input: '', encoding: 'utf8', timeout: 10000 });
  }

  it('openssl s_client completes a TLS 1.3 handshake with a verified certificate', () => {
    const r = sClient('-tls1_3');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /TLSv1\.3/);
    assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  });

  it('TLS 1.2 is still accepted', () => {
    const r = sClient('-tls1_2');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Protocol\s*: TLSv1\.2/);
  });

  for (const [flag, name] of [['-tls1', 'TLS 1.0'], ['-tls1_1', 'TLS 1.1']]) {
    it(`${name} is refused`, () => {
      const r = sClient(flag);
      assert.notEqual(r.status, 0, `${name} handshake succeeded:\n${r.stdout}`);
      assert.doesNotMatch(r.stdout, /Cipher is (?!\(NONE\))/, r.stdout);
    });
  }

  const https = (extra) => ({ ca: fs.readFileSync(pki.ca), servername: 'localhost', ...extra });
  const chat = (model) => ({ model, messages: [{ role: 'user', content: 'hi over TLS' }] });

  it('serves the API over HTTPS with an API key', async () => {
    const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('plain-model'),
      headers: { authorization: `Bearer ${KEY}` }, tls: https() });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.system_fingerprint, 'plain');
  });

  it('a client certificate whose CN is listed authenticates as that tenant without a key', async () => {
    const tls = https({ cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key) });
    const models = await request({ port: gw.apiPort, path: '/v1/models', tls });
    assert.equal(models.status, 200, models.text);
    assert.deepEqual(models.json.data.map((m) => m.id).sort(),
      ['plain-model', 'replicas-model', 'slow-model', 'tls-model', 'wrong-name-model', 'wrong-pin-model']);
    const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('plain-model'), tls });
    assert.equal(res.status, 200, res.text);
  });

  it('a key sent beside a listed client certificate is checked, never ignored', async () => {
    const tls = () => https({ cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key) });
    const same = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('plain-model'),
      headers: { authorization: `Bearer ${KEY}` }, tls: tls() });
    assert.equal(same.status, 200, same.text);
    assertError(await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('plain-model'),
      headers: { authorization: 'Bearer sk-not-a-key-of-this-gateway' }, tls: tls() }),
      { status: 401, code: 'invalid_api_key' }, 'a wrong key beside a good certificate');
  });

  it('a valid client certificate with an unlisted CN and no key gets 401', async () => {
    const tls = https({ cert: fs.readFileSync(pki.unknownClient.cert), key: fs.readFileSync(pki.unknownClient.key) });
    assertError(await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('plain-model'), tls }),
      { status: 401, code: 'invalid_api_key' }, 'unlisted CN');
  });

  // Clients that cache sessions (nginx in front of the gateway, Node's https agent, curl) resume
  // them; a listener that verifies client certificates refused every resumption with an internal
  // error alert until it named its session context.
  for (const version of ['-tls1_3', '-tls1_2']) {
    it(`a session resumed with ${version} on a listener that verifies client certificates keeps its tenant`, () => {
      const sessionFile = `${pki.dir}/session${version}.pem`;
      const models = (sessionFlag) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${gw.apiPort}`, version,
        '-CAfile', pki.ca, '-servername', 'localhost', '-cert', pki.client.cert, '-key', pki.client.key,
        sessionFlag, sessionFile, '-ign_eof'],
      { input: 'GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', encoding: 'utf8', timeout: 10000 });
      const first = models('-sess_out');
      assert.match(first.stdout, /^New, TLSv1\.[23]/m, first.stdout + first.stderr);
      assert.match(first.stdout, /HTTP\/1\.1 200 OK/, first.stdout + first.stderr);
      const again = models('-sess_in');
      assert.match(again.stdout, /^Reused, TLSv1\.[23]/m, again.stdout + again.stderr);
      assert.match(again.stdout, /HTTP\/1\.1 200 OK/, again.stdout + again.stderr);
      assert.match(again.stdout, /"plain-model"/, 'the resumed session authenticates as the certificate\'s tenant');
    });
  }

  it('a client certificate from an untrusted CA never authenticates, even with a listed CN', async () => {
    const tls = https({ cert: fs.readFileSync(pki.rogueClient.cert), key: fs.readFileSync(pki.rogueClient.key) });
    let res;
    try {
      res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('plain-model'), tls });
    } catch (err) {
      return; // the handshake was refused: correct
    }
    assertError(res, { status: 401, code: 'invalid_api_key' }, 'rogue client certificate');
  });

  it('reaches a TLS backend with the pinned CA, the verified server name and the gateway client certificate', async () => {
    const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('tls-model'),
      headers: { authorization: `Bearer ${KEY}` }, tls: https() });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.system_fingerprint, 'tls-backend');
    await tlsUpstream.waitForRequests(1);
    const forwarded = tlsUpstream.requests().filter((e) => e.method === 'POST');
    assert.equal(forwarded.at(-1).client_cn, 'sovereign-gateway', 'the gateway presented its client certificate');
    assert.equal(forwarded.at(-1).tls_servername, pki.backendName, 'server_name went out as SNI');
  });

  it('without server_name, each TLS replica is verified against its own host and gets it as Host', async () => {
    const served = new Set();
    for (let i = 0; i < 4; i++) {
      const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('replicas-model'),
        headers: { authorization: `Bearer ${KEY}` }, tls: https() });
      assert.equal(res.status, 200, res.text);
      served.add(res.json.system_fingerprint);
    }
    assert.deepEqual([...served].sort(), ['replica-127.0.0.1', 'replica-127.0.0.2']);
    for (const upstream of replicaUpstreams) {
      const posted = upstream.requests().filter((e) => e.method === 'POST');
      assert.ok(posted.length > 0, `${upstream.host} got no request`);
      assert.equal(posted.at(-1).headers.host, `${upstream.host}:${upstream.port}`);
      assert.equal(posted.at(-1).tls_servername, null, 'no IP address as SNI (RFC 6066 allows host names only)');
    }
  });

  it('refuses a TLS backend whose certificate is not signed by the pinned CA, and sends it nothing', async () => {
    const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('wrong-pin-model'),
      headers: { authorization: `Bearer ${KEY}` }, tls: https() });
    assertError(res, { status: 502, code: 'upstream_error' }, 'wrong pin');
    // Why, beyond OpenSSL's "certificate verify failed": the certificate's CA is not the pinned one.
    assert.match(res.json.error.message,
      /wrong-pin-be.*certificate verify failed \(SSL routines\): unable to get local issuer certificate/, res.json.error.message);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(pinnedWrong.requests().length, 0, 'a request was sent over an unverified connection');
  });

  it('refuses a TLS backend whose certificate does not name the configured server_name, and sends it nothing', async () => {
    const tlsErrors = () => wrongName.events().filter((e) => e.event === 'tls_error').length;
    // The health check at startup fails its handshake too: let it be counted before the request.
    await wrongName.waitForEvent((e) => e.event === 'tls_error', 3000, 'the startup health check to fail its handshake');
    const errorsBefore = tlsErrors();
    const res = await request({ port: gw.apiPort, method: 'POST', path: '/v1/chat/completions', body: chat('wrong-name-model'),
      headers: { authorization: `Bearer ${KEY}` }, tls: https() });
    // The handshake fails in the forwarder: the backend's error, not "no backend available".
    assertError(res, { status: 502, code: 'upstream_error' }, 'wrong server name');
    assert.match(res.json.error.message, /wrong-name-be.*certificate verify failed \(SSL routines\): hostname mismatch/,
      res.json.error.message);
    await wrongName.process.waitUntil(() => tlsErrors() > errorsBefore, 3000, 'the backend to see the handshake fail');
    assert.equal(wrongName.requests().length, 0, 'a request was sent to a backend whose name was not verified');
  });

  it('logs why a health check\'s handshake failed: a CA that is not the pinned one, or a certificate for another name', async () => {
    for (const [backend, why] of [['wrong-pin-checked', 'unable to get local issuer certificate'],
      ['wrong-name-checked', 'hostname mismatch']]) {
      await gw.waitForStderr(new RegExp(`"backend_unhealthy".*backend '${backend}' replica .* fails its health checks ` +
        `\\(1 in a row; last: cannot connect: certificate verify failed \\(SSL routines\\): ${why}\\)`), 0, 5000,
      `${backend}'s failed health check`);
    }
  });

  // A TLS client that closes properly sends close_notify just before its FIN: readable bytes,
  // which must still count as the client having left.
  it('a TLS client that closes while its request waits on the backend cancels the upstream request', async () => {
    const before = slowUpstream.events().filter((e) => e.event === 'aborted').length;
    const body = JSON.stringify(chat('slow-model'));
    const socket = tls.connect({ port: gw.apiPort, host: '127.0.0.1', ...https() });
    await new Promise((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await slowUpstream.waitForEvent((e) => e.event === 'request' && e.method === 'POST', 5000, 'the request to reach the slow upstream');
    const closedAt = Date.now();
    socket.end();  // close_notify, then FIN
    await slowUpstream.process.waitUntil(() => slowUpstream.events().filter((e) => e.event === 'aborted').length > before,
      3000, 'the upstream request to be aborted');
    assert.ok(Date.now() - closedAt < 3000, 'cancelled before the backend would have answered');
    socket.destroy();
  });

  // Last: afterwards the listener presents a certificate of another CA.
  // Close-delimited over TLS: the end of the answer is marked with close_notify, so the client can
  // tell it from a connection cut short. Python's ssl module tells the two apart (a cut raises
  // SSLEOFError with suppress_ragged_eofs off), so it is the client here.
  it('a stream to an HTTP/1.0 client over TLS is sent unchunked and ended with close_notify', () => {
    const client = `
import json, socket, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[2])
tls = context.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10),
                          server_hostname='localhost', suppress_ragged_eofs=False)
body = json.dumps({'model': 'plain-model', 'stream': True, 'messages': [{'role': 'user', 'content': 'hi'}]}).encode()
tls.sendall(b'POST /v1/chat/completions HTTP/1.0\\r\\nHost: localhost\\r\\nAuthorization: Bearer ' + sys.argv[3].encode() +
            b'\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(body) + body)
received = b''
while True:
    chunk = tls.recv(65536)  # b'' only after close_notify
    if not chunk:
        break
    received += chunk
sys.stdout.write(received.decode())
`;
    const run = spawnSync('python3', ['-c', client, String(gw.apiPort), pki.ca, KEY], { encoding: 'utf8', timeout: 15000 });
    assert.equal(run.status, 0, `the stream did not end with close_notify:\n${run.stderr}`);
    const text = run.stdout;
    const headEnd = text.indexOf('\r\n\r\n');
    const head = text.slice(0, headEnd).toLowerCase();
    assert.match(head, /^http\/1\.1 200 /, text);
    assert.doesNotMatch(head, /transfer-encoding|content-length/, head);
    assert.match(head, /\r\nconnection: close/);
    const events = text.slice(headEnd + 4).split('\n\n').filter(Boolean);
    assert.ok(events.every((e) => e.startsWith('data: ')), `only events, unchunked: ${text}`);
    assert.equal(events.at(-1), 'data: [DONE]');
  });

  it('SIGHUP picks up a renewed server certificate for new connections', async () => {
    const served = () => {
      const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${gw.apiPort}`, '-servername', 'localhost'],
        { input: '', encoding: 'utf8', timeout: 10000 });
      return pem(r.stdout);
    };
    const pem = (text) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
    assert.equal(served(), pem(fs.readFileSync(pki.server.cert, 'utf8')));
    const renewed = makePki(tempDir('sovereign-pki-renewed-'));
    try {
      fs.copyFileSync(renewed.server.cert, pki.server.cert);
      fs.copyFileSync(renewed.server.key, pki.server.key);
      const applied = (await gw.metrics()).value('sovereign_config_reloads_total', { result: 'applied' });
      gw.process.signal('SIGHUP');
      await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result: 'applied' }) > applied, 5000,
        'the reload to be applied');
      assert.equal(served(), pem(fs.readFileSync(renewed.server.cert, 'utf8')), 'the renewed certificate is served');
    } finally {
      fs.rmSync(renewed.dir, { recursive: true, force: true });
    }
  });

  it('a reload with a certificate that cannot be loaded is rejected at the setting (FILE:LINE:COL)', async () => {
    const lines = fs.readFileSync(gw.configPath, 'utf8').split('\n');
    const line = lines.findIndex((l) => /^\s*certificate: /.test(l)) + 1;
    const col = lines[line - 1].indexOf(': ') + 3;
    const good = fs.readFileSync(pki.server.cert);
    const stderrBefore = gw.stderr.length;
    try {
      fs.writeFileSync(pki.server.cert, 'not a certificate\n');
      const rejected = (await gw.metrics()).value('sovereign_config_reloads_total', { result: 'rejected' });
      gw.process.signal('SIGHUP');
      await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result: 'rejected' }) > rejected, 5000,
        'the reload to be rejected');
      const log = await gw.waitForStderr(/reload_rejected/, stderrBefore, 5000, 'the rejection');
      const escaped = gw.configPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(log, new RegExp(`${escaped}:${line}:${col}: listener 'api': cannot load certificate`), log);
    } finally {
      fs.writeFileSync(pki.server.cert, good);
    }
    assert.equal((await gw.admin('/readyz')).status, 200, 'the previous configuration keeps serving');
  });
});

// A request that stalls over TLS gets the 408 a plain-HTTP one gets (it was closed without a word,
// an access-log line or a count): a read cancelled at its deadline leaves the TLS stream writable.
describe('TLS request deadlines', () => {
  const TIMEOUT_MS = 1000;
  let pki;
  let gw;

  before(async () => {
    pki = makePki(tempDir('sovereign-pki-deadline-'));
    gw = await Gateway.start({
      listenerTls: { certificate: pki.server.cert, private_key: pki.server.key },
      limits: { header_timeout_ms: TIMEOUT_MS, body_timeout_ms: TIMEOUT_MS },
      tenants: [tenant({ name: 'radiology', keys: [KEY], models: ['*'] })],
      backends: [],
    });
  });

  after(async () => {
    await gw?.stop();
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  // Writes `sent` over TLS and reads until the gateway closes the connection.
  function stall(sent) {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = tls.connect({ port: gw.apiPort, host: '127.0.0.1', ca: fs.readFileSync(pki.ca), servername: 'localhost' },
        () => socket.write(sent));
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => { received += d; });
      socket.on('error', reject);
      socket.on('close', () => resolve({ received, elapsedMs: Date.now() - started }));
      setTimeout(() => socket.destroy(new Error(`no close within ${TIMEOUT_MS + 5000} ms`)), TIMEOUT_MS + 5000).unref();
    });
  }

  const timeouts = async () => (await gw.metrics()).value('sovereign_http_requests_total', { status: '408' }) ?? 0;

  for (const [what, sent] of [
    ['a header that stops half-way', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n'],
    ['a body that stops half-way', `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":'],
  ]) {
    it(`${what} gets 408 over TLS, counted and logged`, async () => {
      const counted = await timeouts();
      const stderrBefore = gw.stderr.length;
      const { received, elapsedMs } = await stall(sent);
      assert.match(received, /^HTTP\/1\.1 408 /, received);
      assert.match(received, /"code":"request_timeout"/, received);
      assert.ok(elapsedMs >= TIMEOUT_MS - 50, `answered after ${elapsedMs} ms, before the deadline`);
      await gw.waitForMetrics((m) => (m.value('sovereign_http_requests_total', { status: '408' }) ?? 0) > counted,
        5000, 'the 408 to be counted');
      await gw.waitForStderr(/"status":408/, stderrBefore, 5000, 'the access-log line');
    });
  }
});
