// Streaming is real streaming: chunks reach the client while the upstream is still producing
// them, and a client that hangs up cancels the upstream request.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
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
