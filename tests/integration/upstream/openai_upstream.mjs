#!/usr/bin/env node
// An OpenAI-compatible upstream for the integration tests: a real HTTP(S) server process whose
// behaviour each test picks with flags, so the gateway is exercised against real sockets and real
// failure modes (slow, dying, refusing) rather than mocks.
//
// It writes one JSON object per line on stdout: first {"event":"listening","address","port"},
// then one event per connection, request and aborted response, so a test can see exactly what
// reached the upstream (or prove that nothing did). Connection and request events carry the
// client's port ("remote_port"), so a test can tell which connection carried which request.
//
// Flags (all optional):
//   --host ADDR                 listen address (default 127.0.0.1)
//   --port N                    listen port (default 0: any free port)
//   --name ID                   identifies this instance in responses ("system_fingerprint", owned_by)
//   --models a,b                models listed by GET /v1/models (default: the model of each request)
//   --reply TEXT                completion text (default "Hello from the upstream")
//   --reply-bytes N             completion text of N characters instead of --reply (too long for a
//                               command line): 64-character lines, line i being i in 9 digits, 54
//                               '-' and '\n' (the last line cut short), so a test can rebuild it
//                               and notice a lost, repeated or reordered piece
//   --chunks N                  streamed content chunks (default 4; the reply is split across them)
//   --first-byte-delay-ms N     wait before the response headers of POST endpoints
//   --chunk-delay-ms N          wait between streamed chunks
//   --die-before-response       destroy the socket when a POST request arrives
//   --die-after-chunks N        streaming: destroy the socket after N content chunks
//   --omit-done                 streaming: end the body after the last event, without `data: [DONE]`
//   --close-delimited           streaming: send the body without Transfer-Encoding or Content-Length,
//                               ended by closing the connection (as an HTTP/1.0 server does)
//   --status N                  POST endpoints answer with this status and an OpenAI error body
//   --answer-before-body N      POST endpoints answer with status N and an OpenAI error body as soon
//                               as the request's head arrives, without reading its body, and close
//                               the connection (a server refusing a body too large does so): the
//                               body's unread bytes make the close a reset
//   --health-status N           status of GET /v1/models (default 200)
//   --health-early-hints        GET /v1/models answers 103 Early Hints before its answer
//   --api-key KEY               every request without "Authorization: Bearer KEY" gets 401, as vLLM
//                               started with --api-key answers (health checks included)
//   --refuse                    close the listening socket after reporting the port (connections refused)
//   --echo                      non-streamed answers carry the request as received in "echo"
//   --echo-last-user            chat answers (plain and streamed) are the last user message's text
//   --chunk-chars N             streaming: pieces of N characters each instead of --chunks pieces,
//                               so a test can split a token or a card number across chunks
//   --completion-tokens N       completion_tokens in the usage of answers (default 7); streams end
//                               with a usage chunk when the request asks (stream_options.include_usage)
//   --answer-as MODE            chat answers: json (default), gzip (the JSON gzip-compressed, with
//                               Content-Encoding), text (the reply as text/plain), sse (an event
//                               stream even when the request did not ask for one), whole (a whole
//                               JSON answer even when the request asked for a stream)
//   --answer-status N           chat answers carry this status (default 200) with their usual body
//   --logprobs                  chat answers (plain and streamed) carry log probabilities of their
//                               text, token by token, whether the request asked or not
//   --script FILE               POST answers come from FILE, an ES module whose default export
//                               `respond({ path, body, tokens, requestOnConnection })` (body: the
//                               parsed request; tokens: the vault tokens ⟦...⟧ found in it, in order;
//                               requestOnConnection: 1 for the first request its connection carried,
//                               2 for the next...) returns { status, headers, chunks, stallMs,
//                               chunkDelayMs, destroy }: chunks (strings or Buffers) are written as
//                               they are, one write each (chunkDelayMs, default --chunk-delay-ms,
//                               between them), so a test can split an answer at any byte or send what
//                               no real server would (more bytes than its Content-Length says: a
//                               second answer nobody asked for); then the response stays open stallMs
//                               (default 0) before it ends, unless the gateway closes it first
//                               (reported as 'aborted'). With destroy the connection is then cut
//                               instead (with no chunks: the request received and never answered).
//                               With raw: true the chunks are the whole answer, head included,
//                               written to the socket as they are (status and headers unused), so a
//                               test can send what no HTTP library writes: 1xx heads before the
//                               answer, transfer codings, malformed heads; the connection is then
//                               closed (or cut, with destroy)
//   --keep-alive-timeout-ms N   close a keep-alive connection idle for N ms (default 60000)
//   --silent                    read requests, health checks included, and never answer them (a hung
//                               backend behind an open port)
//   --tls-cert F --tls-key F    serve HTTPS
//   --tls-client-ca F           HTTPS: require a client certificate signed by this CA
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { pathToFileURL } from 'node:url';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    name: { type: 'string', default: 'upstream' },
    models: { type: 'string', default: '' },
    reply: { type: 'string', default: 'Hello from the upstream' },
    'reply-bytes': { type: 'string', default: '-1' },
    chunks: { type: 'string', default: '4' },
    'first-byte-delay-ms': { type: 'string', default: '0' },
    'chunk-delay-ms': { type: 'string', default: '0' },
    'die-before-response': { type: 'boolean', default: false },
    'die-after-chunks': { type: 'string', default: '-1' },
    'omit-done': { type: 'boolean', default: false },
    'close-delimited': { type: 'boolean', default: false },
    status: { type: 'string', default: '200' },
    'answer-before-body': { type: 'string', default: '0' },
    'health-status': { type: 'string', default: '200' },
    'api-key': { type: 'string' },
    'health-early-hints': { type: 'boolean', default: false },
    refuse: { type: 'boolean', default: false },
    echo: { type: 'boolean', default: false },
    'echo-last-user': { type: 'boolean', default: false },
    'chunk-chars': { type: 'string', default: '0' },
    'completion-tokens': { type: 'string', default: '7' },
    'answer-as': { type: 'string', default: 'json' },
    'answer-status': { type: 'string', default: '200' },
    logprobs: { type: 'boolean', default: false },
    script: { type: 'string' },
    silent: { type: 'boolean', default: false },
    'keep-alive-timeout-ms': { type: 'string', default: '60000' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
  },
  strict: true,
});

function intFlag(name) {
  const v = Number(opt[name]);
  if (!Number.isInteger(v)) {
    process.stderr.write(`openai_upstream: --${name} must be an integer, got "${opt[name]}"\n`);
    process.exit(2);
  }
  return v;
}

const cfg = {
  chunks: Math.max(1, intFlag('chunks')),
  chunkChars: Math.max(0, intFlag('chunk-chars')),
  completionTokens: Math.max(0, intFlag('completion-tokens')),
  firstByteDelayMs: intFlag('first-byte-delay-ms'),
  chunkDelayMs: intFlag('chunk-delay-ms'),
  dieAfterChunks: intFlag('die-after-chunks'),
  dieBeforeResponse: opt['die-before-response'],
  status: intFlag('status'),
  answerBeforeBody: intFlag('answer-before-body'),
  healthStatus: intFlag('health-status'),
  models: opt.models ? opt.models.split(',').filter(Boolean) : [],
};
const replyBytes = intFlag('reply-bytes');
// Rebuilt by the tests that use it (streaming.test.mjs): keep the two in step.
const REPLY = replyBytes < 0 ? opt.reply
  : Array.from({ length: Math.ceil(replyBytes / 64) }, (_, i) => `${String(i).padStart(9, '0')}${'-'.repeat(54)}\n`)
    .join('').slice(0, replyBytes);
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const CREATED = 1700000000;

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function openAiError(status, message) {
  return { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null } };
}

// Splits the reply into `n` non-empty pieces whose concatenation is the reply, or into pieces of
// --chunk-chars characters (code points, so every piece is valid text) when that is set.
function splitReply(text, n) {
  if (cfg.chunkChars > 0) {
    const chars = [...text];
    const pieces = [];
    for (let i = 0; i < chars.length; i += cfg.chunkChars) pieces.push(chars.slice(i, i + cfg.chunkChars).join(''));
    return pieces.length ? pieces : [''];
  }
  const pieces = [];
  const size = Math.max(1, Math.ceil(text.length / n));
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length ? pieces : [''];
}

function usage(prompt, completion) {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

// The text of the last user message of a chat request (string content or text parts), or null.
function lastUserText(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) return m.content.filter((p) => p?.type === 'text').map((p) => p.text).join('');
  }
  return null;
}

// With --logprobs: the text cut into tokens of up to four characters, as chat answers carry them.
function logprobsOf(text) {
  if (!opt.logprobs) return null;
  const content = [];
  for (let i = 0; i < text.length; i += 4) {
    const token = text.slice(i, i + 4);
    content.push({ token, logprob: -0.5, bytes: [...Buffer.from(token)], top_logprobs: [] });
  }
  return { content, refusal: null };
}

function chatCompletion(model, echo, reply) {
  const body = {
    id: 'chatcmpl-upstream-1',
    object: 'chat.completion',
    created: CREATED,
    model,
    system_fingerprint: opt.name,
    choices: [{ index: 0, message: { role: 'assistant', content: reply }, logprobs: logprobsOf(reply), finish_reason: 'stop' }],
    usage: usage(5, cfg.completionTokens),
  };
  if (echo) body.echo = echo;
  return body;
}

function textCompletion(model, echo) {
  const body = {
    id: 'cmpl-upstream-1',
    object: 'text_completion',
    created: CREATED,
    model,
    system_fingerprint: opt.name,
    choices: [{ index: 0, text: REPLY, logprobs: null, finish_reason: 'stop' }],
    usage: usage(3, cfg.completionTokens),
  };
  if (echo) body.echo = echo;
  return body;
}

function embeddings(model, input, echo) {
  const inputs = Array.isArray(input) ? input : [input];
  const body = {
    object: 'list',
    model,
    data: inputs.map((_, i) => ({ object: 'embedding', index: i, embedding: [0.25, -0.5, 0.125 * (i + 1)] })),
    usage: { prompt_tokens: 2 * inputs.length, total_tokens: 2 * inputs.length },
  };
  if (echo) body.echo = echo;
  return body;
}

// Resolves once the event is handed to the kernel, so that a deliberate death right after it
// cannot swallow it.
function streamEvent(res, object) {
  return new Promise((resolve) => res.write(`data: ${JSON.stringify(object)}\n\n`, resolve));
}

async function streamCompletion(req, res, path, model, log, reply, includeUsage) {
  // Without chunked coding and with no length, Node ends the body by closing the connection.
  if (opt['close-delimited']) res.useChunkedEncodingByDefault = false;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chat = path === '/v1/chat/completions';
  const pieces = splitReply(reply, cfg.chunks);
  const chunk = (delta, finish) =>
    chat
      ? { id: 'chatcmpl-upstream-1', object: 'chat.completion.chunk', created: CREATED, model, system_fingerprint: opt.name,
          choices: [{ index: 0, delta, logprobs: logprobsOf(delta.content ?? ''), finish_reason: finish }] }
      : { id: 'cmpl-upstream-1', object: 'text_completion', created: CREATED, model, system_fingerprint: opt.name,
          choices: [{ index: 0, text: delta.content ?? '', logprobs: null, finish_reason: finish }] };
  if (chat) await streamEvent(res, chunk({ role: 'assistant', content: '' }, null));
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0 && cfg.chunkDelayMs > 0) await sleep(cfg.chunkDelayMs);
    if (res.destroyed) return;
    if (cfg.dieAfterChunks >= 0 && i === cfg.dieAfterChunks) {
      log({ event: 'died', path, chunks_sent: i });
      req.socket.destroy();
      return;
    }
    await streamEvent(res, chunk({ content: pieces[i] }, null));
  }
  if (cfg.chunkDelayMs > 0) await sleep(cfg.chunkDelayMs);
  if (res.destroyed) return;
  await streamEvent(res, chunk({}, 'stop'));
  if (includeUsage) {
    await streamEvent(res, { ...chunk({}, null), choices: [], usage: usage(chat ? 5 : 3, cfg.completionTokens) });
  }
  if (!opt['omit-done']) res.write('data: [DONE]\n\n');
  res.end();
}

const script = opt.script ? (await import(pathToFileURL(opt.script).href)).default : null;

// The answer --script scripts: its chunks written one by one, exactly as given.
async function scriptedAnswer(req, res, path, body, raw, requestOnConnection) {
  const tokens = raw.match(/⟦[A-Z][A-Z0-9_]*_[0-9a-f]+⟧/g) ?? [];
  const { status = 200, headers = { 'content-type': 'text/event-stream' }, chunks, stallMs = 0,
    chunkDelayMs = cfg.chunkDelayMs, destroy = false, raw: onWire = false } = await script({ path, body, tokens, requestOnConnection });
  if (onWire) return rawScriptedAnswer(req.socket, chunks, chunkDelayMs, stallMs, destroy);
  res.writeHead(status, headers);  // sent with the first chunk: with none, nothing is
  for (let i = 0; i < chunks.length; i++) {
    if (i > 0 && chunkDelayMs > 0) await sleep(chunkDelayMs);
    if (res.destroyed) return;
    await new Promise((resolve) => res.write(chunks[i], resolve));
  }
  if (stallMs > 0) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, stallMs);
      res.once('close', () => { clearTimeout(timer); resolve(); });
    });
    if (res.destroyed) return;
  }
  if (destroy) req.socket.destroy();
  else res.end();
}

// A scripted answer written straight to the socket, past Node's HTTP framing.
async function rawScriptedAnswer(socket, chunks, chunkDelayMs, stallMs, destroy) {
  for (let i = 0; i < chunks.length; i++) {
    if (i > 0 && chunkDelayMs > 0) await sleep(chunkDelayMs);
    if (socket.destroyed) return;
    await new Promise((resolve) => socket.write(chunks[i], resolve));
  }
  if (stallMs > 0) await sleep(stallMs);
  if (destroy) socket.destroy();
  else socket.end();
}

async function handlePost(req, res, path, raw, log, requestOnConnection) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    sendJson(res, 400, openAiError(400, 'upstream: request body is not JSON'));
    return;
  }
  const model = typeof body.model === 'string' ? body.model : 'unknown';
  const echo = opt.echo ? { method: req.method, path: req.url, headers: req.headers, body: raw } : null;
  const userText = path === '/v1/chat/completions' && opt['echo-last-user'] ? lastUserText(body) : null;
  const reply = userText ?? REPLY;
  if (cfg.dieBeforeResponse) {
    log({ event: 'died', path, chunks_sent: 0 });
    req.socket.destroy();
    return;
  }
  if (cfg.firstByteDelayMs > 0) await sleep(cfg.firstByteDelayMs);
  if (res.destroyed) return;
  if (script) {
    await scriptedAnswer(req, res, path, body, raw, requestOnConnection);
    return;
  }
  if (cfg.status !== 200) {
    sendJson(res, cfg.status, openAiError(cfg.status, `upstream: configured to answer ${cfg.status}`));
    return;
  }
  const answerStatus = intFlag('answer-status');
  if (path === '/v1/chat/completions' && opt['answer-as'] === 'text') {
    res.writeHead(answerStatus, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(reply) });
    res.end(reply);
  } else if (path === '/v1/chat/completions' && opt['answer-as'] === 'gzip') {
    const packed = zlib.gzipSync(JSON.stringify(chatCompletion(model, echo, reply)));
    res.writeHead(answerStatus, { 'content-type': 'application/json', 'content-encoding': 'gzip',
      'content-length': packed.length });
    res.end(packed);
  } else if (path === '/v1/chat/completions' && opt['answer-as'] === 'sse') {
    await streamCompletion(req, res, path, model, log, reply, false);
  } else if (path === '/v1/chat/completions' && (answerStatus !== 200 || opt['answer-as'] === 'whole')) {
    sendJson(res, answerStatus, chatCompletion(model, echo, reply));
  } else if (path === '/v1/embeddings') {
    sendJson(res, 200, embeddings(model, body.input, echo));
  } else if (body.stream === true) {
    await streamCompletion(req, res, path, model, log, reply, body.stream_options?.include_usage === true);
  } else if (path === '/v1/chat/completions') {
    sendJson(res, 200, chatCompletion(model, echo, reply));
  } else {
    sendJson(res, 200, textCompletion(model, echo));
  }
}

let nextRequestId = 1;
const requestsOnConnection = new WeakMap();  // socket -> requests it has carried
async function handle(req, res) {
  // The test's own marker (lib/upstream.mjs settle()): every event written before it is in the pipe
  // ahead of it, so once the test reads it, it has read the reports of every request answered before.
  const sync = /^\/__sync\/(\d+)$/.exec(req.url ?? '');
  if (sync) {
    emit({ event: 'sync', n: Number(sync[1]) });
    res.end();
    return;
  }
  const id = nextRequestId++;
  const requestOnConnection = (requestsOnConnection.get(req.socket) ?? 0) + 1;
  requestsOnConnection.set(req.socket, requestOnConnection);
  const path = (req.url ?? '').split('?')[0];
  if (cfg.answerBeforeBody > 0 && req.method === 'POST') {
    emit({ id, event: 'request', method: req.method, path: req.url, headers: req.headers, body: null,
           remote_port: req.socket.remotePort, request_on_connection: requestOnConnection, answered_before_body: true });
    const error = JSON.stringify(openAiError(cfg.answerBeforeBody, 'upstream: answered before reading the body'));
    const answer = `HTTP/1.1 ${cfg.answerBeforeBody} Early\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(error)}\r\nConnection: close\r\n\r\n${error}`;
    req.socket.write(answer, () => req.socket.destroy());
    return;
  }
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > MAX_BODY_BYTES) {
      sendJson(res, 413, openAiError(413, 'upstream: body too large'));
      return;
    }
    chunks.push(c);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  const log = (e) => emit({ id, ...e });
  log({ event: 'request', method: req.method, path: req.url, headers: req.headers, body: raw,
        remote_port: req.socket.remotePort, request_on_connection: requestOnConnection,
        client_cn: req.socket.getPeerCertificate?.()?.subject?.CN ?? null,
        tls_servername: req.socket.encrypted ? (req.socket.servername || null) : undefined });
  res.on('close', () => {
    if (!res.writableFinished) log({ event: 'aborted', path });
    else log({ event: 'complete', path, status: res.statusCode });
  });
  if (opt.silent) return;
  if (opt['api-key'] !== undefined && req.headers.authorization !== `Bearer ${opt['api-key']}`) {
    sendJson(res, 401, openAiError(401, 'upstream: invalid or missing API key'));
    return;
  }

  if (req.method === 'GET' && path === '/v1/models') {
    if (opt['health-early-hints']) res.writeEarlyHints({ link: '</v1/models>; rel=preload' });
    if (cfg.healthStatus !== 200) {
      sendJson(res, cfg.healthStatus, openAiError(cfg.healthStatus, 'upstream: configured unhealthy'));
      return;
    }
    sendJson(res, 200, {
      object: 'list',
      data: cfg.models.map((m) => ({ id: m, object: 'model', created: CREATED, owned_by: opt.name })),
    });
    return;
  }
  const posts = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'];
  if (!posts.includes(path)) {
    sendJson(res, 404, openAiError(404, `upstream: no route ${path}`));
    return;
  }
  if (req.method !== 'POST') {
    sendJson(res, 405, openAiError(405, `upstream: ${req.method} not allowed on ${path}`));
    return;
  }
  await handlePost(req, res, path, raw, log, requestOnConnection);
}

const onRequest = (req, res) => {
  handle(req, res).catch((err) => {
    emit({ event: 'handler_error', message: String(err?.message ?? err) });
    if (!res.headersSent) sendJson(res, 500, openAiError(500, 'upstream: handler failed'));
    else res.destroy();
  });
};

let server;
if (opt['tls-cert']) {
  const tlsOptions = { cert: fs.readFileSync(opt['tls-cert']), key: fs.readFileSync(opt['tls-key']) };
  if (opt['tls-client-ca']) {
    tlsOptions.ca = fs.readFileSync(opt['tls-client-ca']);
    tlsOptions.requestCert = true;
    tlsOptions.rejectUnauthorized = true;
  }
  server = https.createServer(tlsOptions, onRequest);
  server.on('tlsClientError', (err) => emit({ event: 'tls_error', message: String(err?.message ?? err) }));
} else {
  server = http.createServer(onRequest);
}
server.keepAliveTimeout = intFlag('keep-alive-timeout-ms');
server.on('connection', (socket) =>
  emit({ event: 'connection', remote_address: socket.remoteAddress, remote_port: socket.remotePort }));

server.listen(Number(opt.port), opt.host, () => {
  const { address, port } = server.address();
  emit({ event: 'listening', address, port });
  if (opt.refuse) {
    server.close();
    // Nothing else keeps the event loop alive; the process must stay up until the test stops it.
    setInterval(() => {}, 1 << 30);
  }
});

const stop = () => {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// If the test runner that started us dies, stdout breaks: exit rather than linger.
process.stdout.on('error', () => process.exit(0));
