// Connection and upstream-size limits: a connection beyond limits.max_connections gets an
// OpenAI-shaped 503 (too_many_connections, Retry-After) to its request and is closed, one that sends
// nothing is closed after the short refusal deadline, while the admitted ones keep working, and a non-streamed upstream answer larger than
// limits.max_upstream_response_bytes becomes a 502 instead of being buffered without bound, and one
// below it (10 MiB against the default 16 MiB) is relayed whole.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { rawExchange } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-limits-tenant';
const MAX_UPSTREAM_RESPONSE = 4096;

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('connect', () => resolve(socket));
    socket.on('error', reject);
  });
}

// Resolves true if the server closes `socket` within `ms`.
function closedWithin(socket, ms) {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => { clearTimeout(timer); resolve(true); };
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
    socket.resume();
  });
}

// Sends one GET /v1/models on an open socket and resolves with the status code.
function getModels(socket) {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before an answer: ${text}`)));
    socket.write(`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`);
  });
}

describe('limits', () => {
  let upstream;
  let bigUpstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'limits-upstream' });
    bigUpstream = await Upstream.start({ name: 'big-upstream', reply: 'z'.repeat(MAX_UPSTREAM_RESPONSE * 2) });
    gw = await Gateway.start({
      limits: { max_connections: 2, max_upstream_response_bytes: MAX_UPSTREAM_RESPONSE },
      tenants: [tenant({ name: 'limits', keys: [KEY], models: ['*'] })],
      backends: [
        openaiBackend({ name: 'small-be', models: ['small-model'], upstreams: [upstream] }),
        openaiBackend({ name: 'big-be', models: ['big-model'], upstreams: [bigUpstream] }),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
    await bigUpstream?.stop();
  });

  it('502 upstream_error for a non-streamed upstream answer larger than max_upstream_response_bytes', async () => {
    const res = await gw.chat(KEY, { model: 'big-model', messages: [{ role: 'user', content: 'long answer please' }] });
    assertError(res, { status: 502, code: 'upstream_error' }, 'oversize upstream answer');
    const small = await gw.chat(KEY, { model: 'small-model', messages: [{ role: 'user', content: 'short' }] });
    assert.equal(small.status, 200, small.text);
  });

  it('answers connections beyond max_connections 503 too_many_connections and keeps serving the admitted ones', async () => {
    const refused = () => gw.metrics().then((m) => m.value('sovereign_connections_refused_total'));
    const refusedBefore = await refused();
    const first = await connect(gw.apiPort);
    const second = await connect(gw.apiPort);
    try {
      // Give the gateway time to register both before the others arrive.
      await new Promise((r) => setTimeout(r, 200));
      const third = await rawExchange({
        port: gw.apiPort,
        timeoutMs: 5000,
        script: (socket) => socket.write(`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`),
      });
      const answer = third.response;
      assert.ok(third.closed && answer, `no answer, or the connection stayed open: ${third.raw.toString('utf8')}`);
      assertError(answer, { status: 503, code: 'too_many_connections' }, 'over max_connections');
      assert.equal(answer.headers['retry-after'], '1', answer.text);
      assert.equal(answer.headers.connection, 'close', answer.text);
      assert.match(answer.json.error.message, /limit of 2 client connections/, answer.text);
      const id = answer.headers['x-request-id'];
      assert.match(id ?? '', /^req_[0-9a-f]{16}$/, 'the refusal carries X-Request-Id');
      const line = (await gw.waitForStderr(new RegExp(`"request_id":"${id}"`), 0, 5000, 'its access log line'))
        .split('\n').find((l) => l.includes(id));
      assert.match(line, /"status":503.*"error":"too_many_connections"/, line);

      // One that sends nothing is not held for the whole header timeout.
      const silent = await connect(gw.apiPort);
      const started = Date.now();
      assert.ok(await closedWithin(silent, 5000), 'a silent connection over the limit was not closed');
      assert.ok(Date.now() - started < 4500, `closed after ${Date.now() - started} ms`);
      silent.destroy();

      assert.equal(await getModels(first), 200);
      assert.equal(await getModels(second), 200);
      assert.equal(await refused(), refusedBefore + 2);
    } finally {
      first.destroy();
      second.destroy();
    }
    // Once they are gone, new connections are admitted again.
    await new Promise((r) => setTimeout(r, 200));
    const res = await gw.api({ key: KEY, path: '/v1/models' });
    assert.equal(res.status, 200, res.text);
  });
});

// CPU time (user + system, in clock ticks) a process has used so far.
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);  // utime, stime (fields 14 and 15 of the line)
}

// With fewer open files allowed than max_connections, the connections past the limit wait in the
// kernel's queue: the gateway says so at start, and when accepting fails it waits and retries
// rather than spinning on the failing accept.
describe('out of file descriptors', () => {
  const OPEN_FILES = 64;
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'fd-upstream' });
    gw = await Gateway.start({
      limits: { max_connections: 1000 },
      tenants: [tenant({ name: 'limits', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'fd-be', models: ['fd-model'], upstreams: [upstream] })],
    }, { openFiles: OPEN_FILES });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  it('warns at start that max_connections needs more open files than the limit allows', () => {
    const line = gw.stderr.split('\n').find((l) => l.includes('"open_files_limit"'));
    assert.ok(line, `no open_files_limit warning:\n${gw.stderr}`);
    assert.match(JSON.parse(line).message, new RegExp(`max_connections 1000 .* open-files limit is ${OPEN_FILES}`), line);
  });

  it('backs off instead of spinning when accept runs out of descriptors, logs it once, and accepts again once they are free', async () => {
    const stderrBefore = gw.stderr.length;
    const sockets = [];
    try {
      for (let i = 0; i < OPEN_FILES * 2; i++) sockets.push(await connect(gw.apiPort));
      const log = await gw.waitForStderr(/"accept_paused"/, stderrBefore, 5000, 'the accept failure');
      assert.match(log, /cannot accept connections: Too many open files/, log);
      const before = cpuTicks(gw.process.pid);
      await new Promise((r) => setTimeout(r, 1000));
      const used = cpuTicks(gw.process.pid) - before;
      assert.ok(used < 30, `the gateway used ${used} ticks of CPU in one second while it could not accept`);
      const paused = gw.stderr.slice(stderrBefore).split('\n').filter((l) => l.includes('"accept_paused"'));
      assert.equal(paused.length, 1, `one log line per episode:\n${paused.join('\n')}`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await gw.waitForStderr(/"accept_resumed"/, stderrBefore, 5000, 'accepting to resume');
    const res = await gw.api({ key: KEY, path: '/v1/models' });
    assert.equal(res.status, 200, res.text);
  });
});

// The default max_upstream_response_bytes (16 MiB) is what counts, not a parser's own default.
describe('a non-streamed upstream answer between 8 and 16 MiB with the default limits', () => {
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'ten-mib', 'reply-bytes': 10 * 1024 * 1024 });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'limits', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'ten-mib-be', models: ['ten-mib'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  it('is relayed whole', async () => {
    const res = await gw.chat(KEY, { model: 'ten-mib', messages: [{ role: 'user', content: 'a long answer' }] });
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.equal(res.json.choices[0].message.content.length, 10 * 1024 * 1024);
  });
});
