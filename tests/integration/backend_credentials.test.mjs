// A backend that requires an API key of its clients (vLLM started with --api-key, a proxy in front
// of TGI or Triton): the gateway sends the key from the backend's api_key_file with each request and
// health check, never its own clients' keys; a key file that is wrong is refused at the setting; a
// reload reads the file again.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, openaiBackend, runCli, tempDir, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';
import { assertError } from './lib/openai_shapes.mjs';
import { toYaml } from './lib/yaml.mjs';

const CLIENT_KEY = 'sk-credentials-client';
const BACKEND_KEY = 'vllm-secret-7f3a';
const chat = { model: 'm', messages: [{ role: 'user', content: 'hello' }] };

describe('a backend that requires an API key', { timeout: 120000 }, () => {
  let dir;
  let upstream;

  const keyFile = (name, text, mode = 0o600) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    return file;
  };
  const config = (extra) => ({
    tenants: [tenant({ name: 'app', keys: [CLIENT_KEY], models: ['*'] })],
    backends: [openaiBackend({ name: 'vllm', models: ['m'], upstreams: [upstream], ...extra })],
  });

  before(async () => {
    dir = tempDir('sovereign-backend-key-');
    upstream = await Upstream.start({ name: 'keyed', 'api-key': BACKEND_KEY });
  });

  after(async () => {
    await upstream?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is sent the key from api_key_file with requests and health checks, never the client\'s key', async () => {
    const gw = await Gateway.start(config({ api_key_file: keyFile('vllm.key', `${BACKEND_KEY}\n`) }));
    try {
      const before = upstream.requests().length;
      const res = await gw.chat(CLIENT_KEY, chat);
      assert.equal(res.status, 200, res.text);
      await upstream.waitForRequests(before + 1);
      const seen = upstream.events().filter((e) => e.event === 'request');
      const checks = seen.filter((e) => e.method === 'GET');
      const posts = seen.filter((e) => e.method === 'POST');
      assert.ok(checks.length > 0 && posts.length > 0, JSON.stringify(seen));
      for (const e of seen) assert.equal(e.headers.authorization, `Bearer ${BACKEND_KEY}`, `${e.method} ${e.path}`);
      assert.ok(!JSON.stringify(seen).includes(CLIENT_KEY), 'the client\'s key reached the backend');
      assert.ok(!gw.stderr.includes(BACKEND_KEY), 'the backend key is in the gateway\'s log');
    } finally {
      await gw.stop();
    }
  });

  it('without the key the backend refuses the gateway, and the client gets 502 saying so', async () => {
    const gw = await Gateway.start(config({ health: { interval_ms: 60000, unhealthy_after: 1000 } }));
    try {
      const res = await gw.chat(CLIENT_KEY, chat);
      assertError(res, { status: 502, code: 'upstream_error' });
      assert.match(res.json.error.message, /401/);
    } finally {
      await gw.stop();
    }
  });

  it('a reload reads the key file again: a rotated key takes effect at SIGHUP, an unusable file is refused', async () => {
    const file = keyFile('rotated.key', 'an-old-key\n');
    const gw = await Gateway.start(config({ api_key_file: file, health: { interval_ms: 60000, unhealthy_after: 1000 } }));
    try {
      assertError(await gw.chat(CLIENT_KEY, chat), { status: 502, code: 'upstream_error' });
      keyFile('rotated.key', `${BACKEND_KEY}\n`);
      const before = (await gw.metrics()).value('sovereign_config_reloads_total', { result: 'applied' }) ?? 0;
      await gw.reload(gw.config);
      await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result: 'applied' }) > before, 10000,
        'the reload to be applied');
      const res = await gw.chat(CLIENT_KEY, chat);
      assert.equal(res.status, 200, res.text);
      // A reload that cannot use the file is refused, and the key read before keeps serving.
      fs.chmodSync(file, 0o644);
      const rejected = (await gw.metrics()).value('sovereign_config_reloads_total', { result: 'rejected' }) ?? 0;
      await gw.reload(gw.config);
      await gw.waitForMetrics((m) => m.value('sovereign_config_reloads_total', { result: 'rejected' }) > rejected, 10000,
        'the reload to be rejected');
      assert.equal((await gw.chat(CLIENT_KEY, chat)).status, 200);
    } finally {
      await gw.stop();
    }
  });

  it('a key file that is wrong is refused at its setting, saying what is wrong and never what it holds', async () => {
    const cases = [
      { name: 'group-readable', file: keyFile('shared.key', `${BACKEND_KEY}\n`, 0o640), message: /group- or world|chmod/ },
      { name: 'empty', file: keyFile('empty.key', '\n'), message: /is empty/ },
      { name: 'two words', file: keyFile('words.key', 'vllm secret\n'), message: /byte 5 is a space.*on one line/ },
      { name: 'two lines', file: keyFile('lines.key', 'vllm\nsecret\n'), message: /byte 5 is a space, a line end/ },
      { name: 'missing', file: path.join(dir, 'absent.key'), message: /does not exist/ },
    ];
    for (const { name, file, message } of cases) {
      const gatewayYaml = path.join(dir, `${name.replace(/ /g, '-')}.yaml`);
      fs.writeFileSync(gatewayYaml, toYaml({
        listeners: [{ name: 'api', address: '127.0.0.1', port: 18999 }],
        boundary: ['127.0.0.1/32'],
        ...config({ api_key_file: file }),
      }));
      const result = await runCli(['config', 'check', gatewayYaml]);
      assert.equal(result.code, 1, `${name}: ${result.output}`);
      const line = result.output.split('\n').find((l) => l.includes('api_key_file') || message.test(l)) ?? '';
      assert.match(line, new RegExp(`^${gatewayYaml.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `), `${name}: ${result.output}`);
      assert.match(result.output, message, name);
      assert.ok(!result.output.includes('secret-7f3a'), `${name}: the key is in the message`);
    }
  });
});
