// HTTP clients for the tests: a plain request/response helper, a raw socket exchange for the
// cases a normal client cannot produce (partial headers, slow bodies), and an SSE reader that
// timestamps each event as it arrives.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

// Sends one request on a fresh connection and reads the whole answer.
// `body` may be a string, a Buffer or an object (sent as JSON).
export function request({ port, host = '127.0.0.1', method = 'GET', path = '/', headers = {}, body, tls, timeoutMs = 20000 }) {
  const payload = body === undefined ? undefined
    : Buffer.isBuffer(body) || typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
  const allHeaders = { ...headers };
  if (payload !== undefined && !Object.keys(allHeaders).some((h) => h.toLowerCase() === 'content-type')) {
    allHeaders['content-type'] = 'application/json';
  }
  if (payload !== undefined) allHeaders['content-length'] = String(payload.length);
  const transport = tls ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request({ host, port, method, path, headers: allHeaders, agent: false, ...(tls ?? {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// Parses one HTTP/1.1 response from raw bytes (enough for the error answers the tests expect).
export function parseResponse(raw) {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...headerLines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) return null;
  const headers = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: Number(match[1]), headers, text: body, json };
}

// Opens a raw TCP connection and runs `script(socket, sleep)`, which writes whatever it likes;
// resolves with everything the server sent, the time until the server closed the connection,
// and whether it closed. Write errors are ignored: the server may answer and close early.
export function rawExchange({ port, host = '127.0.0.1', script, timeoutMs = 20000 }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    const chunks = [];
    const started = Date.now();
    let settled = false;
    const finish = (closed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ raw, closed, elapsedMs: Date.now() - started, response: parseResponse(raw) });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') finish(true);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('connect', () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      Promise.resolve(script(socket, sleep)).catch(() => {});
    });
  });
}

// Reads an SSE response, recording each `data:` payload with the time it arrived (ms since the
// request was sent). Resolves at the end of the response or when the connection breaks.
export function readSse({ port, host = '127.0.0.1', path, headers = {}, body, tls, onEvent, timeoutMs = 30000 }) {
  const payload = Buffer.from(JSON.stringify(body));
  const transport = tls ? https : http;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const events = [];
    let buffer = '';
    let heldCr = '';
    let status;
    let responseHeaders;
    let brokenBy = null;
    // Lines end with LF, CRLF or a lone CR (as servers may write them): read as LF, as SSE parsers
    // do. A CR that ends what has come so far waits for the next bytes (an LF may follow it), or the end.
    const take = (text, last) => {
      let chunk = heldCr + text;
      heldCr = !last && chunk.endsWith('\r') ? '\r' : '';
      if (heldCr) chunk = chunk.slice(0, -1);
      buffer += chunk.replace(/\r\n?/g, '\n');
      let sep;
      while ((sep = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (!block.split('\n').some((l) => l.startsWith('data:'))) continue;
        const event = { data, atMs: Date.now() - started };
        events.push(event);
        if (onEvent) onEvent(event, req);
      }
    };
    const req = transport.request({
      host, port, method: 'POST', path, agent: false, ...(tls ?? {}),
      headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers },
    }, (res) => {
      status = res.statusCode;
      responseHeaders = res.headers;
      res.setEncoding('utf8');
      res.on('data', (text) => take(text, false));
      const done = () => {
        take('', true);
        resolve({ status, headers: responseHeaders, events, rest: buffer, brokenBy, totalMs: Date.now() - started });
      };
      res.on('end', done);
      res.on('aborted', () => { brokenBy = 'aborted'; });
      res.on('error', (err) => { brokenBy = err.code ?? err.message; });
      res.on('close', done);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`SSE ${path}: no end within ${timeoutMs} ms`)));
    req.on('error', (err) => {
      if (status !== undefined) {
        brokenBy = err.code ?? err.message;
        resolve({ status, headers: responseHeaders, events, rest: buffer, brokenBy, totalMs: Date.now() - started });
      } else {
        reject(err);
      }
    });
    req.write(payload);
    req.end();
  });
}
