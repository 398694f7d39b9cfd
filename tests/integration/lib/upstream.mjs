// Starts tests/integration/upstream/openai_upstream.mjs as a separate process and reads what it
// reports: the port it listens on, and every connection and request that reached it.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrackedProcess } from './processes.mjs';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'upstream', 'openai_upstream.mjs');

// One running upstream. `flags` are the upstream's command-line flags as an object:
// { 'chunk-delay-ms': 200, echo: true } becomes --chunk-delay-ms 200 --echo.
export class Upstream {
  static async start(flags = {}) {
    const args = [script];
    for (const [name, value] of Object.entries(flags)) {
      if (value === false || value === undefined) continue;
      args.push(`--${name}`);
      if (value !== true) args.push(String(Array.isArray(value) ? value.join(',') : value));
    }
    const upstream = new Upstream(new TrackedProcess(process.execPath, args));
    const listening = await upstream.process.waitUntil(
      () => upstream.events().find((e) => e.event === 'listening') ?? (upstream.process.running ? null : {}),
      10000, 'the upstream to report its port');
    if (!listening.port) throw new Error(`upstream did not start\n${upstream.process.describe()}`);
    upstream.host = listening.address;
    upstream.port = listening.port;
    return upstream;
  }

  constructor(process) {
    this.process = process;
  }

  get url() {
    return `http://${this.host}:${this.port}`;
  }

  events() {
    const out = [];
    for (const line of this.process.lines) {
      try {
        out.push(JSON.parse(line));
      } catch {
        // not an event line
      }
    }
    return out;
  }

  // Requests that reached this upstream, excluding the gateway's health checks (GET /v1/models).
  requests() {
    return this.events().filter((e) => e.event === 'request' && !(e.method === 'GET' && e.path === '/v1/models'));
  }

  connections() {
    return this.events().filter((e) => e.event === 'connection');
  }

  // Resolves once at least `count` requests (health checks excluded) have been reported: the
  // upstream's report travels through a pipe, so it may trail the gateway's answer slightly.
  waitForRequests(count, timeoutMs = 5000) {
    return this.process.waitUntil(() => this.requests().length >= count, timeoutMs,
      `${count} request(s) to reach the upstream`);
  }

  // Resolves once the reports of every request this upstream answered before the call have been read
  // (it asks the upstream for a marker, which its pipe delivers after them), with their count: the
  // count to compare with later, where a request must not reach the upstream. Plain HTTP upstreams only.
  async settledRequestCount(timeoutMs = 5000) {
    const n = (this.syncs = (this.syncs ?? 0) + 1);
    await new Promise((resolve, reject) => {
      const req = http.get({ host: this.host, port: this.port, path: `/__sync/${n}`, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.setTimeout(timeoutMs, () => req.destroy(new Error('the upstream did not answer its sync request')));
    });
    await this.waitForEvent((e) => e.event === 'sync' && e.n === n, timeoutMs, `the upstream's sync marker ${n}`);
    return this.requests().length;
  }

  waitForEvent(predicate, timeoutMs, what) {
    return this.process.waitUntil(() => this.events().find(predicate), timeoutMs, what);
  }

  async stop() {
    await this.process.stop(3000);
  }
}

const unacceptingScript = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'upstream', 'unaccepting_listener.py');

// A loopback port whose connections never complete (upstream/unaccepting_listener.py): connecting
// to it runs into the connect timeout.
export class UnacceptingListener {
  static async start() {
    const listener = new UnacceptingListener(new TrackedProcess('python3', [unacceptingScript]));
    const line = await listener.process.waitUntil(
      () => listener.process.lines.find((l) => l.includes('"listening"')) ?? (listener.process.running ? null : '{}'),
      10000, 'the unaccepting listener to report its port');
    listener.port = JSON.parse(line).port;
    if (!listener.port) throw new Error(`unaccepting listener did not start\n${listener.process.describe()}`);
    return listener;
  }

  constructor(process) {
    this.process = process;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop() {
    await this.process.stop(3000);
  }
}
