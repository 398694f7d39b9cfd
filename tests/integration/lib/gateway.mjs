// Starts the real sovereign binary on free loopback ports with a gateway.yaml generated into a
// temporary directory, waits for /readyz, and gives the tests typed access to its API, admin
// endpoints, log and signals.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrackedProcess } from './processes.mjs';
import { freePort } from './ports.mjs';
import { toYaml } from './yaml.mjs';
import { request } from './http.mjs';
import { parseMetrics } from './metrics.mjs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// The binary under test: $SOVEREIGN_BIN, or build/sovereign in the repository.
export function gatewayBin() {
  const fromEnv = process.env.SOVEREIGN_BIN;
  return fromEnv ? path.resolve(fromEnv) : path.join(repoRoot, 'build', 'sovereign');
}

export function sha256Hex(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

export function tempDir(prefix = 'sovereign-itest-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// What a suite's after() does: stops each of `running` (gateways, upstreams; skipping any that never
// started), in the order given, then deletes the suite's temporary directory `dir`.
export async function stopAndRemove(dir, ...running) {
  for (const each of running) await each?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

// The command line that runs `command args` with at most `limit` more processes and threads
// (RLIMIT_NPROC). The limit counts all of a user's processes and does not bind root, so as root the
// command runs as nobody (which runs nothing else here; what it reads must be readable to all), and
// otherwise the user's current count is added to `limit`.
export function underProcessLimit(limit, command, args) {
  if (process.getuid() === 0) {
    return ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'prlimit', `--nproc=${limit}`, command, ...args]];
  }
  const listed = spawnSync('ps', ['-L', '-u', String(process.getuid()), '--no-headers'], { encoding: 'utf8' });
  const running = listed.stdout.split('\n').filter((line) => line.trim()).length;
  return ['prlimit', [`--nproc=${limit + running}`, command, ...args]];
}

// Whether this machine lets a process have an /etc/hosts of its own (a private mount namespace,
// unprivileged through a user namespace): what `Gateway.start(..., { hostsFile })` needs.
export function privateHostsSupported() {
  const file = path.join(tempDir('sovereign-hosts-probe-'), 'hosts');
  fs.writeFileSync(file, '127.0.0.1 localhost\n');
  const probe = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount --bind "$0" /etc/hosts', file], { encoding: 'utf8' });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return probe.status === 0 ? null : `no private mount namespace here: ${probe.error?.message ?? probe.stderr.trim()}`;
}

export function bearer(key) {
  return { authorization: `Bearer ${key}` };
}

// A tenant entry for gateway.yaml; `keys` are plain keys, stored as their SHA-256 digests.
export function tenant({ name, keys = [], models, ...extra }) {
  return { name, api_keys: keys.map((k) => ({ sha256: sha256Hex(k) })), models, ...extra };
}

// An OpenAI-compatible backend on loopback upstreams, with health checks fast enough for tests.
export function openaiBackend({ name, models, upstreams = [], urls, zone = 'site', health = {}, ...extra }) {
  const replicaUrls = urls ?? upstreams.map((u) => u.url);
  return {
    name,
    type: 'openai',
    zone,
    models,
    replicas: replicaUrls.map((url) => ({ url })),
    loopback: replicaUrls.every((u) => u.startsWith('http://')) ? true : undefined,
    timeout_ms: 10000,
    connect_timeout_ms: 1000,
    health_check: { path: '/v1/models', interval_ms: 200, timeout_ms: 1000, unhealthy_after: 2, healthy_after: 1, ...health },
    ...extra,
  };
}

// The config a test describes, completed with listeners on free ports, the admin listener and
// defaults a test need not repeat.
async function completeConfig(config, ports) {
  const { listenerTls, ...rest } = config;
  const listener = { name: 'api', address: '127.0.0.1', port: ports.api };
  if (listenerTls) listener.tls = listenerTls;
  return {
    workers: 1,
    listeners: [listener],
    admin: { address: '127.0.0.1', port: ports.admin },
    boundary: ['127.0.0.1/32'],
    access_log: 'stderr',
    ...rest,
  };
}

// One running gateway.
export class Gateway {
  // `config`: gateway.yaml content without listeners/admin (added here on free ports);
  // `listenerTls` inside it becomes the API listener's `tls` section.
  // `openFiles`: the open-files limit (soft and hard) the gateway runs under.
  // `serveArgs`: more arguments for `sovereign serve` (e.g. --passphrase-file FILE); `env`: its
  // environment (default: the test's). `processLimit`: the threads it may start (underProcessLimit).
  // `fileSizeLimit`: the largest file, in bytes, it may write (RLIMIT_FSIZE): a disk that fills up.
  // `hostsFile`: a file the gateway alone reads as /etc/hosts (bind-mounted in a mount namespace of
  // its own; see privateHostsSupported), so a test can make names resolve, or stop resolving, by
  // rewriting it in place, without touching the machine's /etc/hosts. `resolvConf` (with `hostsFile`):
  // likewise its /etc/resolv.conf, to send its DNS queries to a server of the test's.
  // `waitReady: false`: returns as soon as the process is started, ready or not.
  static async start(config, { readyTimeoutMs = 20000, openFiles, processLimit, fileSizeLimit, hostsFile, resolvConf,
    waitReady = true, serveArgs = [], env } = {}) {
    const bin = gatewayBin();
    if (!fs.existsSync(bin)) {
      throw new Error(`gateway binary not found at ${bin}: build it (ninja -C build sovereign) or set SOVEREIGN_BIN`);
    }
    // A free port is released before the gateway binds it, so a process of another test file running
    // at the same time may take it first; the gateway then refuses to start ("Address already in
    // use") and is started again on other ports.
    for (let attempt = 1; ; attempt++) {
      const dir = tempDir();
      const ports = { api: await freePort(), admin: await freePort() };
      const full = await completeConfig(config, ports);
      const configPath = path.join(dir, 'gateway.yaml');
      fs.writeFileSync(configPath, toYaml(full));
      const args = ['serve', '--config', configPath, ...serveArgs];
      const spawnOptions = env === undefined ? { cwd: dir } : { cwd: dir, env };
      let child;
      if (openFiles !== undefined) {
        child = new TrackedProcess('/bin/sh', ['-c', `ulimit -n ${Number(openFiles)} && exec "$0" "$@"`, bin, ...args], spawnOptions);
      } else if (hostsFile !== undefined && resolvConf !== undefined) {
        child = new TrackedProcess('unshare', ['-rm', 'sh', '-c',
          'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"',
          'sh', hostsFile, resolvConf, bin, ...args], spawnOptions);
      } else if (hostsFile !== undefined) {
        child = new TrackedProcess('unshare', ['-rm', 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"',
          'sh', hostsFile, bin, ...args], spawnOptions);
      } else if (fileSizeLimit !== undefined) {
        child = new TrackedProcess('prlimit', [`--fsize=${Number(fileSizeLimit)}`, bin, ...args], spawnOptions);
      } else if (processLimit !== undefined) {
        fs.chmodSync(dir, 0o755);  // its config, for a gateway that runs as nobody
        child = new TrackedProcess(...underProcessLimit(processLimit, bin, args), spawnOptions);
      } else {
        child = new TrackedProcess(bin, args, spawnOptions);
      }
      const gateway = new Gateway(dir, configPath, ports, full, child);
      if (!waitReady) return gateway;
      try {
        await gateway.waitReady(readyTimeoutMs);
        return gateway;
      } catch (err) {
        if (attempt >= 3 || gateway.process.running || !/Address already in use/.test(gateway.process.stderr)) throw err;
      }
    }
  }

  constructor(dir, configPath, ports, config, process) {
    this.dir = dir;
    this.configPath = configPath;
    this.apiPort = ports.api;
    this.adminPort = ports.admin;
    this.config = config;
    this.process = process;
  }

  async waitReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (!this.process.running) {
        throw new Error(`gateway exited before it was ready\n${this.describe()}`);
      }
      try {
        const res = await request({ port: this.adminPort, path: '/readyz', timeoutMs: 1000 });
        if (res.status === 200) return;
        last = `status ${res.status}`;
      } catch (err) {
        last = err.message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`gateway not ready within ${timeoutMs} ms (/readyz: ${last})\n${this.describe()}`);
  }

  describe() {
    return `config ${this.configPath}:\n${toYaml(this.config)}\n${this.process.describe()}`;
  }

  get stderr() {
    return this.process.stderr;
  }

  // A request to the API listener; `key` adds the bearer header.
  api({ key, headers = {}, ...rest }) {
    return request({ port: this.apiPort, headers: key ? { ...bearer(key), ...headers } : headers, ...rest });
  }

  chat(key, body, extra = {}) {
    return this.api({ key, method: 'POST', path: '/v1/chat/completions', body, ...extra });
  }

  admin(pathname) {
    return request({ port: this.adminPort, path: pathname });
  }

  async metrics() {
    const res = await this.admin('/metrics');
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`);
    return parseMetrics(res.text);
  }

  // Polls /metrics until `check(metrics)` is truthy.
  async waitForMetrics(check, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    let metrics;
    while (Date.now() < deadline) {
      metrics = await this.metrics();
      if (check(metrics)) return metrics;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${metrics?.text ?? ''}\n${this.describe()}`);
  }

  // Polls this gateway's stderr from offset `from` until `pattern` matches, and returns that part:
  // a log line reaches the test through a pipe, after the metric that counts the same event may
  // already show it.
  async waitForStderr(pattern, from, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.stderr.slice(from);
      if (pattern.test(text)) return text;
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${pattern}) in the log:\n${text}\n${this.describe()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // Replaces the config file with `text` (or the YAML of an object completed with this
  // gateway's listeners) and sends SIGHUP.
  // The gateway.yaml text of a config a test describes, on this gateway's ports.
  async configText(configOrText) {
    return typeof configOrText === 'string' ? configOrText
      : toYaml(await completeConfig(configOrText, { api: this.apiPort, admin: this.adminPort }));
  }

  // Rewrites gateway.yaml without telling the gateway.
  async writeConfig(configOrText) {
    fs.writeFileSync(this.configPath, await this.configText(configOrText));
  }

  async reload(configOrText) {
    await this.writeConfig(configOrText);
    this.process.signal('SIGHUP');
  }

  async stop() {
    const status = await this.process.stop(15000);
    fs.rmSync(this.dir, { recursive: true, force: true });
    return status;
  }
}

// Runs `sovereign ARGS...` to completion; resolves with exit code and output. `env`: its
// environment (default: the test's).
export async function runCli(args, { timeoutMs = 20000, env } = {}) {
  const proc = new TrackedProcess(gatewayBin(), args, env === undefined ? {} : { env });
  const timer = setTimeout(() => proc.signal('SIGKILL'), timeoutMs);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  return { code, signal, stdout: proc.stdout, stderr: proc.stderr, output: proc.stdout + proc.stderr };
}
