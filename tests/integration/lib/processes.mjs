// Child processes started by a test: tracked so that every one is killed when the test process
// ends, however it ends, and with their output kept for failure messages.
import { spawn } from 'node:child_process';

const live = new Set();

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

// A started process: its output as text so far, its stdout as lines, and a promise of its exit.
export class TrackedProcess {
  constructor(command, args, options = {}) {
    this.command = command;
    this.args = args;
    this.stdout = '';
    this.stderr = '';
    this.lines = [];
    this.lineWaiters = [];
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    live.add(this.child);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        this.exitCode = code;
        this.exitSignal = signal;
        resolve({ code, signal });
      });
      this.child.on('error', (err) => {
        live.delete(this.child);
        this.spawnError = err;
        resolve({ code: null, signal: null, error: err });
      });
    });
    let partial = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (text) => {
      this.stdout += text;
      partial += text;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        this.lines.push(line);
        this.notify();
      }
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text) => {
      this.stderr += text;
      this.notify();
    });
    this.exited.then(() => this.notify());
  }

  get pid() {
    return this.child.pid;
  }

  get running() {
    return this.exitCode === undefined && this.exitSignal === undefined && !this.spawnError;
  }

  notify() {
    for (const waiter of [...this.lineWaiters]) waiter();
  }

  // Resolves when `check()` returns a truthy value (re-checked on every output and at exit);
  // rejects after `timeoutMs` with `what` and the process's output in the message.
  waitUntil(check, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let value;
        try {
          value = check();
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (value) {
          finish();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.lineWaiters = this.lineWaiters.filter((w) => w !== attempt);
      };
      this.lineWaiters.push(attempt);
      attempt();
    });
  }

  describe() {
    const tail = (text) => (text.length > 6000 ? '...' + text.slice(-6000) : text);
    return `--- ${this.command} ${this.args.join(' ')} (pid ${this.pid}, ` +
      `exit ${this.exitCode ?? '-'} signal ${this.exitSignal ?? '-'})\n` +
      `--- stdout:\n${tail(this.stdout)}\n--- stderr:\n${tail(this.stderr)}`;
  }

  signal(name) {
    if (this.running) this.child.kill(name);
  }

  // SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with the exit status.
  async stop(graceMs = 10000) {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}
