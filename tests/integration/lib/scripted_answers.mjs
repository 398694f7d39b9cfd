// An upstream that answers with exactly the bytes a test scripts: before each request the test writes
// the answer (its status, chunks, content type, a stall, a cut connection) into answer.json of the
// test's directory, and the upstream writes those chunks one by one. For answers no real model can be made
// to write on cue: values escaped twice, characters cut between events, text after the stream's end.
import fs from 'node:fs';
import path from 'node:path';
import { Upstream } from './upstream.mjs';

// The upstream's --script module: it reads answer.json, written as base64 chunks, at each request.
const SCRIPT = `import fs from 'node:fs';
export default function respond({ tokens }) {
  const answer = JSON.parse(fs.readFileSync(new URL('./answer.json', import.meta.url), 'utf8'));
  const chunk = (c) => answer.withToken
    ? Buffer.from(Buffer.from(c, 'base64').toString('utf8').replaceAll('{{token}}', tokens[0] ?? ''))
    : Buffer.from(c, 'base64');
  return { status: answer.status, headers: { 'content-type': answer.contentType }, chunks: answer.chunks.map(chunk),
    stallMs: answer.stallMs, destroy: answer.destroy };
}
`;

// The next answer of the upstream scripted in `dir`: chunks (strings or Buffers), each written as it
// is; then the response stays open stallMs before it ends (or, with destroy, its connection is cut).
export function writeAnswer(dir, chunks, contentType = 'text/event-stream', stallMs = 0, destroy = false) {
  fs.writeFileSync(path.join(dir, 'answer.json'),
    JSON.stringify({ contentType, chunks: chunks.map((c) => Buffer.from(c).toString('base64')), stallMs, destroy }));
}

// The next answer: `status` with `body` as one chunk, of `contentType`. With withToken, every
// "{{token}}" in it is the first vault token the request carried (a backend quoting the prompt).
export function writeStatusAnswer(dir, status, body, contentType = 'application/json', { withToken = false } = {}) {
  fs.writeFileSync(path.join(dir, 'answer.json'), JSON.stringify({ status, contentType, withToken,
    chunks: [Buffer.from(body).toString('base64')], stallMs: 0, destroy: false }));
}

// Starts an upstream that answers as scripted in `dir` (a whole chat answer "noted" until a test
// writes another).
export async function startScriptedUpstream(dir) {
  fs.writeFileSync(path.join(dir, 'script.mjs'), SCRIPT);
  writeAnswer(dir, [JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
    message: { role: 'assistant', content: 'noted' }, finish_reason: 'stop' }] })], 'application/json');
  return Upstream.start({ script: path.join(dir, 'script.mjs'), 'chunk-delay-ms': 2 });
}

export const event = (object) => `data: ${JSON.stringify(object)}\n\n`;
export const chatEvent = (delta, finish = null, index = 0) =>
  event({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index, delta, finish_reason: finish }] });
// A chat delta's or message's one tool call: the first piece names it, the later ones only carry
// more of its arguments.
export const toolCall = (args, first, name) => ({ tool_calls: [{ index: 0, ...(first ? { id: 'call_1', type: 'function' } : {}),
  function: { ...(first ? { name } : {}), arguments: args } }] });

// The next answer: content and one tool call whose arguments are `written` (`call` builds it, as
// toolCall does), whole, or streamed in two events with both cut at `cut` (the content short of its end).
export function writeAnswerWithCall(dir, content, written, call, cut = null) {
  if (cut === null) {
    return writeAnswer(dir, [JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0,
      message: { role: 'assistant', content, ...call(written, true) }, finish_reason: 'tool_calls' }] })], 'application/json');
  }
  const textCut = Math.min(cut, content.length - 1);
  return writeAnswer(dir, [chatEvent({ role: 'assistant', content: content.slice(0, textCut), ...call(written.slice(0, cut), true) }),
    chatEvent({ content: content.slice(textCut), ...call(written.slice(cut), false) }),
    chatEvent({}, 'tool_calls'), 'data: [DONE]\n\n']);
}
