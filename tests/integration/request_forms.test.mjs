// HTTP/1.1 as RFC 9112 has servers read and answer it, sent byte for byte on raw sockets: a request
// target in absolute form ("POST http://host:port/v1/chat/completions") is the same request as its
// path (3.2.2), on the API and the admin listener alike, and a malformed one is refused with 400
// saying why; a streamed answer to an HTTP/1.0 client, which cannot read chunked coding (6.1), is
// sent as it comes and ended by closing the connection.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { rawExchange } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-request-forms';

describe('request forms and HTTP versions', () => {
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'forms-upstream', chunks: 3 });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'forms', keys: [KEY], models: ['*'] })],
      backends: [openaiBackend({ name: 'be-forms', models: ['m-forms'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  // Sends one request as written (`target` and `version` on its request line) and reads until the
  // gateway closes the connection.
  function send({ port = gw.apiPort, method = 'POST', target, version = '1.1', body, headers = '' }) {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const length = body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`;
    return rawExchange({
      port,
      timeoutMs: 10000,
      script: (socket) => socket.write(`${method} ${target} HTTP/${version}\r\nHost: 127.0.0.1:${port}\r\n` +
        `Authorization: Bearer ${KEY}\r\n${length}${headers}Connection: close\r\n\r\n${payload}`),
    });
  }

  const chat = (extra = {}) => ({ model: 'm-forms', messages: [{ role: 'user', content: 'hi' }], ...extra });

  it('a request target in absolute form is served as its path', async () => {
    const before = await upstream.settledRequestCount();
    for (const target of [`http://127.0.0.1:${gw.apiPort}/v1/chat/completions`, `HTTP://LOCALHOST/v1/chat/completions`,
      `https://gateway.example:8443/v1/chat/completions?trace=1`]) {
      const { response, raw } = await send({ target, body: chat() });
      assert.ok(response, `no HTTP answer to ${target}: ${raw.toString('utf8')}`);
      assert.equal(response.status, 200, `${target}: ${response.text}`);
      assert.equal(response.json.choices[0].message.content, 'Hello from the upstream');
    }
    await upstream.waitForRequests(before + 3);
    assert.deepEqual(upstream.requests().slice(before).map((r) => r.path), Array(3).fill('/v1/chat/completions'),
      'the backend received the path');
    const models = await send({ method: 'GET', target: `http://127.0.0.1:${gw.apiPort}/v1/models` });
    assert.equal(models.response?.status, 200, models.raw.toString('utf8'));
    assert.deepEqual(models.response.json.data.map((m) => m.id), ['m-forms']);
  });

  it('the admin listener takes absolute-form targets too', async () => {
    for (const target of [`http://127.0.0.1:${gw.adminPort}/healthz`, `http://127.0.0.1:${gw.adminPort}/metrics`]) {
      const { response, raw } = await send({ port: gw.adminPort, method: 'GET', target });
      assert.equal(response?.status, 200, `${target}: ${raw.toString('utf8')}`);
    }
  });

  it('a malformed absolute-form target is refused with 400 saying what is wrong, and nothing is forwarded', async () => {
    const before = await upstream.settledRequestCount();
    const cases = [
      ['ftp://127.0.0.1/v1/chat/completions', /scheme 'ftp', which the gateway does not serve/],
      ['http:/v1/chat/completions', /'http:' must be followed by '\/\/' and a host/],
      ['http:///v1/chat/completions', /it names no host/],
      ['http://user:secret@127.0.0.1/v1/chat/completions', /user information/],
      ['http://127.0.0.1:80x/v1/chat/completions', /its port is not a number/],
    ];
    for (const [target, why] of cases) {
      const { response, raw } = await send({ target, body: chat() });
      assert.ok(response, `no HTTP answer to ${target}: ${raw.toString('utf8')}`);
      assertError(response, { status: 400, code: 'invalid_request' }, target);
      assert.match(response.json.error.message, why, target);
      assert.match(response.json.error.message, /send the path \(such as \/v1\/chat\/completions\)/);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(upstream.requests().length, before, 'no refused request reached the backend');
  });

  it('a stream to an HTTP/1.0 client is sent unchunked and ended by closing the connection', async () => {
    const result = await send({ target: '/v1/chat/completions', version: '1.0', body: chat({ stream: true }) });
    const text = result.raw.toString('utf8');
    const headEnd = text.indexOf('\r\n\r\n');
    assert.ok(headEnd > 0, text);
    const head = text.slice(0, headEnd).toLowerCase();
    assert.match(head, /^http\/1\.1 200 /);
    assert.match(head, /\r\ncontent-type: text\/event-stream/);
    assert.doesNotMatch(head, /transfer-encoding/, `no chunked coding for HTTP/1.0:\n${head}`);
    assert.doesNotMatch(head, /content-length/);
    assert.match(head, /\r\nconnection: close/);
    const body = text.slice(headEnd + 4);
    const datas = body.split('\n\n').filter((block) => block.startsWith('data: ')).map((block) => block.slice(6));
    assert.equal(body, datas.map((d) => `data: ${d}\n\n`).join(''), `the body is the events and nothing else:\n${body}`);
    assert.equal(datas.at(-1), '[DONE]');
    const content = datas.slice(0, -1).map((d) => JSON.parse(d).choices[0].delta.content ?? '').join('');
    assert.equal(content, 'Hello from the upstream');
    assert.ok(result.closed, 'the gateway closed the connection at the end of the stream');
  });

  it('an HTTP/1.1 client still gets its stream chunked', async () => {
    const result = await send({ target: '/v1/chat/completions', body: chat({ stream: true }) });
    const text = result.raw.toString('utf8');
    assert.match(text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase(), /\r\ntransfer-encoding: chunked/);
    assert.match(text, /data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
  });
});
