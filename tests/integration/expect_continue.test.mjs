// Clients that send "Expect: 100-continue" (curl, many HTTP libraries, for larger bodies) get the
// interim 100 answer at once and only then send the body; without it they stall (curl: 1 s).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';

const KEY = 'sk-expect-continue-key';

describe('Expect: 100-continue', () => {
  let upstream;
  let gw;

  before(async () => {
    upstream = await Upstream.start({ name: 'upstream', models: ['m'] });
    gw = await Gateway.start({
      tenants: [tenant({ name: 't', keys: [KEY], models: ['m'] })],
      backends: [openaiBackend({ name: 'be', models: ['m'], upstreams: [upstream] })],
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  it('answers 100 Continue before the body is sent, then the request completes', async () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    const result = await new Promise((resolve, reject) => {
      const socket = net.connect(gw.apiPort, '127.0.0.1');
      const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer within 5 s')); }, 5000);
      let received = '';
      let sentBody = false;
      let continueAfterMs = null;
      const started = Date.now();
      socket.on('connect', () => {
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          'Expect: 100-continue\r\nConnection: close\r\n\r\n');
      });
      socket.on('data', (data) => {
        received += data.toString('utf8');
        if (!sentBody && received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          continueAfterMs = Date.now() - started;
          sentBody = true;
          socket.write(body);
        }
      });
      socket.on('close', () => { clearTimeout(timer); resolve({ received, sentBody, continueAfterMs }); });
      socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    });
    assert.ok(result.sentBody, `no 100 Continue before the body; received: ${result.received}`);
    assert.ok(result.continueAfterMs < 500, `100 Continue took ${result.continueAfterMs} ms`);
    const final = result.received.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
    assert.match(final, /^HTTP\/1\.1 200 OK\r\n/, final);
    await upstream.waitForRequests(1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(upstream.requests().length, 1, 'the request reached the upstream once');
  });
});
