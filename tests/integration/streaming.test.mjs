// Streaming is real streaming: chunks reach the client while the upstream is still producing
// them, a client that hangs up cancels the upstream request, and a client that stops reading
// holds the upstream back instead of making the gateway buffer the stream.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { readSse } from './lib/http.mjs';

const KEY = 'sk-streaming-tenant';
const CHUNK_DELAY_MS = 300;
const CHUNKS = 5;

describe('streaming', () => {
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'uslowstream', chunks: CHUNKS, 'chunk-delay-ms': CHUNK_DELAY_MS });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'streaming', keys: [KEY], models: ['stream-model'] })],
      backends: [openaiBackend({ name: 'be-stream', models: ['stream-model'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  const body = { model: 'stream-model', stream: true, messages: [{ role: 'user', content: 'tell me a story' }] };

  it('the first chunk arrives before the upstream has finished the stream', async () => {
    const res = await readSse({ port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` }, body });
    assert.equal(res.status, 200);
    assert.equal(res.events.at(-1).data, '[DONE]');
    const firstContent = res.events.find((e) => e.data !== '[DONE]' && JSON.parse(e.data).choices[0].delta.content);
    const done = res.events.at(-1);
    // The upstream spends CHUNKS * CHUNK_DELAY_MS between its first content chunk and [DONE].
    assert.ok(done.atMs - firstContent.atMs >= (CHUNKS - 1) * CHUNK_DELAY_MS,
      `first content at ${firstContent.atMs} ms, [DONE] at ${done.atMs} ms: the stream was buffered`);
    const text = res.events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0].delta.content ?? '').join('');
    assert.equal(text, 'Hello from the upstream');
  });

  it('a client that disconnects mid-stream cancels the upstream request', async () => {
    const before = upstream.events().filter((e) => e.event === 'aborted').length;
    const res = await readSse({
      port: gw.apiPort, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` }, body,
      onEvent: (event, req) => {
        if (event.data !== '[DONE]' && JSON.parse(event.data).choices[0].delta.content) req.destroy();
      },
    });
    assert.equal(res.status, 200);
    await upstream.process.waitUntil(() => upstream.events().filter((e) => e.event === 'aborted').length > before,
      5000, 'the upstream request to be aborted');
  });
});

// The text the upstream streams with --reply-bytes N (keep in step with openai_upstream.mjs).
function replyOfBytes(n) {
  return Array.from({ length: Math.ceil(n / 64) }, (_, i) => `${String(i).padStart(9, '0')}${'-'.repeat(54)}\n`)
    .join('').slice(0, n);
}

function rssBytes(pid) {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(kb[1]) * 1024;
}

// Decodes a complete HTTP/1.1 response with a chunked body from raw bytes.
function parseChunkedResponse(raw) {
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0, 'no response head');
  const head = raw.subarray(0, headEnd).toString('latin1');
  const pieces = [];
  let at = headEnd + 4;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    assert.ok(lineEnd > 0, `chunked body cut off at byte ${at} of ${raw.length}`);
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    assert.ok(Number.isInteger(size), `bad chunk size line at byte ${at}`);
    at = lineEnd + 2;
    if (size === 0) break;
    pieces.push(raw.subarray(at, at + size));
    at += size + 2;
  }
  return { head, body: Buffer.concat(pieces).toString('utf8') };
}

describe('streaming to a client that stops reading', () => {
  // Far more than the kernel's socket buffers on the way (upstream -> gateway -> client) hold (about
  // 12 MB here: four sockets of a few MB each), so only backpressure can keep the upstream from
  // finishing, and the gateway from growing by most of the stream, while the client does not read.
  const STREAM_BYTES = 64 * 1024 * 1024;
  const PIECE_BYTES = 16 * 1024;
  const PAUSE_MS = 2000;
  const MAX_RSS_GROWTH = STREAM_BYTES / 4;
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'ubigstream', 'reply-bytes': STREAM_BYTES, chunks: STREAM_BYTES / PIECE_BYTES });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'streaming', keys: [KEY], models: ['big-model'] })],
      backends: [openaiBackend({ name: 'be-big', models: ['big-model'], upstreams: [upstream], timeout_ms: 60000 })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  it('the gateway does not buffer the stream: the upstream waits, and the client later gets all of it intact', async (t) => {
    const pid = gw.process.pid;
    const rssBefore = rssBytes(pid);
    const body = JSON.stringify({ model: 'big-model', stream: true, messages: [{ role: 'user', content: 'a long story' }] });
    const socket = net.connect({ port: gw.apiPort, host: '127.0.0.1' });
    socket.pause();  // read nothing until told: the kernel's receive buffer fills, then the gateway must wait
    const received = [];
    let streamId;
    const ended = new Promise((resolve, reject) => {
      socket.on('data', (c) => received.push(c));
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    try {
      await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      await upstream.waitForRequests(1);
      streamId = upstream.requests()[0].id;
      let rssPeak = rssBefore;
      const pauseEnds = Date.now() + PAUSE_MS;
      while (Date.now() < pauseEnds) {
        await new Promise((r) => setTimeout(r, 100));
        rssPeak = Math.max(rssPeak, rssBytes(pid));
      }
      const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
      assert.ok(rssPeak - rssBefore < MAX_RSS_GROWTH,
        `the gateway grew by ${mb(rssPeak - rssBefore)} (${mb(rssBefore)} -> ${mb(rssPeak)}) while the client read nothing ` +
        `of a ${mb(STREAM_BYTES)} stream: it buffers instead of waiting`);
      const finished = (e) => e.id === streamId && (e.event === 'complete' || e.event === 'aborted');
      assert.ok(!upstream.events().some(finished),
        'the upstream finished its stream although the client read nothing: the gateway did not hold it back');
      assert.equal(received.length, 0, 'the paused client read nothing');
      t.diagnostic(`gateway RSS ${mb(rssBefore)} before, at most ${mb(rssPeak)} while the client did not read`);

      const resumedAt = Date.now();
      socket.resume();
      await ended;
      t.diagnostic(`the rest of the stream arrived in ${Date.now() - resumedAt} ms once the client read`);
    } finally {
      socket.destroy();
    }
    const { head, body: sse } = parseChunkedResponse(Buffer.concat(received));
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\ncontent-type: text\/event-stream/i);
    const events = sse.split('\n\n');
    assert.equal(events.pop(), '', 'the stream ends with a complete event');
    assert.equal(events.at(-1), 'data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => {
      assert.ok(e.startsWith('data: '), `not an SSE data event: ${e.slice(0, 80)}`);
      return JSON.parse(e.slice(6));
    });
    const contents = chunks.map((c) => c.choices[0].delta.content).filter((c) => c);
    assert.equal(contents.length, STREAM_BYTES / PIECE_BYTES, 'every content chunk arrived');
    const text = contents.join('');
    assert.equal(text.length, STREAM_BYTES);
    assert.ok(text === replyOfBytes(STREAM_BYTES), 'the streamed text arrived intact and in order');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    await upstream.waitForEvent((e) => e.id === streamId && e.event === 'complete', 5000, 'the upstream to finish its stream');
  });
});
