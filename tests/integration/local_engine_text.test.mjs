// The built-in engine's text as a client reads it, whole and streamed, on a demo model scripted to
// answer known tokens (lib/gguf_file.mjs): a SentencePiece word with its space, an emoji spelt by
// four byte tokens, an accented letter by two, an end-of-turn token. The chat answer starts without
// SentencePiece's word space and a completion keeps it; stop strings spanning tokens and streamed
// chunks cut the text before them in both forms; deltas carry whole characters only; the streamed
// text, finish_reason and usage equal the whole answer's byte for byte.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Gateway, runCli, tempDir, tenant } from './lib/gateway.mjs';
import { scriptedModel } from './lib/gguf_file.mjs';
import { readSse } from './lib/http.mjs';
import { assertError } from './lib/openai_shapes.mjs';

const KEY = 'sk-local-engine-text';

// Both prompts below end with a newline byte token (the chat template's "assistant\n"; the
// completion prompt's own), which the script answers with these tokens.
const ANSWER = ['▁Hello', '▁world', '<0xF0>', '<0x9F>', '<0x98>', '<0x80>', '!', '<0xC3>', '<0xA9>', '▁the', '<|im_end|>'];
const ANSWER_TOKENS = ANSWER.length - 1;  // the end-of-turn token ends the answer and is not counted
const CHAT = { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], temperature: 0 };
const COMPLETION = { model: 'demo', prompt: 'Say\n', temperature: 0 };

describe('the built-in engine\'s answer text, whole and streamed', { timeout: 120000 }, () => {
  let dir;
  let gw;

  before(async () => {
    dir = tempDir('sovereign-engine-text-');
    const demo = path.join(dir, 'demo-f32.gguf');
    const made = await runCli(['model', 'make-demo', demo, '--type', 'f32'], { timeoutMs: 60000 });
    assert.equal(made.code, 0, `model make-demo:\n${made.output}`);
    const model = scriptedModel(demo, path.join(dir, 'scripted.gguf'), ['<0x0A>', ...ANSWER]);
    gw = await Gateway.start({
      tenants: [tenant({ name: 'main', keys: [KEY], models: ['demo'] })],
      backends: [{ name: 'site-engine', type: 'local', zone: 'site', models: ['demo'], model_file: model,
        device: 'cpu', context_length: 256, max_batch: 2 }],
    }, { readyTimeoutMs: 60000 });
  });

  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Asks for `body` whole and streamed (with the usage chunk); checks that both say the same and
  // returns the answer with the streamed deltas.
  async function wholeAndStreamed(endpoint, body) {
    const whole = await gw.api({ key: KEY, method: 'POST', path: endpoint, body });
    assert.equal(whole.status, 200, whole.text);
    const choice = whole.json.choices[0];
    const text = choice.message?.content ?? choice.text;
    const streamed = await readSse({ port: gw.apiPort, path: endpoint, headers: { authorization: `Bearer ${KEY}` },
      body: { ...body, stream: true, stream_options: { include_usage: true } } });
    assert.equal(streamed.status, 200);
    const events = streamed.events.map((e) => e.data);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((data) => JSON.parse(data));
    const choices = chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0]);
    const deltas = choices.map((c) => c.delta?.content ?? c.text).filter((t) => t);
    assert.equal(deltas.join(''), text, `streamed ${JSON.stringify(deltas)}, whole ${JSON.stringify(text)}`);
    assert.deepEqual(choices.map((c) => c.finish_reason).filter((r) => r !== null), [choice.finish_reason]);
    assert.deepEqual(chunks.at(-1).usage, whole.json.usage);
    return { text, deltas, finishReason: choice.finish_reason, usage: whole.json.usage };
  }

  it('a chat answer starts without SentencePiece\'s word space; the spaces it writes later stay', async () => {
    const chat = await wholeAndStreamed('/v1/chat/completions', CHAT);
    assert.equal(chat.text, 'Hello world😀!é the');
    // One delta per token that completes a character: the emoji's and the letter's bytes arrive whole.
    assert.deepEqual(chat.deltas, ['Hello', ' world', '😀', '!', 'é', ' the']);
    assert.equal(chat.finishReason, 'stop');
    assert.equal(chat.usage.completion_tokens, ANSWER_TOKENS);
  });

  it('a completion keeps the space before its first word: it continues the prompt', async () => {
    const completion = await wholeAndStreamed('/v1/completions', COMPLETION);
    assert.equal(completion.text, ' Hello world😀!é the');
    assert.deepEqual(completion.deltas, [' Hello', ' world', '😀', '!', 'é', ' the']);
    assert.equal(completion.finishReason, 'stop');
    assert.equal(completion.usage.completion_tokens, ANSWER_TOKENS);
  });

  it('a stop string ends the text just before it, across tokens, characters and streamed chunks', async () => {
    for (const [stop, text] of [
      ['d😀', 'Hello worl'],            // a word's end and an emoji of four byte tokens
      [['world', 'wor'], 'Hello '],     // one stop string the prefix of another
      ['é', 'Hello world😀!'],          // a character of two byte tokens
      [['!é t', 'é the'], 'Hello world😀'],  // both complete at the last token: the earlier one counts
      ['Hello', ''],                    // at the very start of the answer
    ]) {
      const answer = await wholeAndStreamed('/v1/chat/completions', { ...CHAT, stop });
      assert.equal(answer.text, text, `stop ${JSON.stringify(stop)}`);
      assert.equal(answer.finishReason, 'stop', `stop ${JSON.stringify(stop)}`);
    }
    // The dropped space is no part of the answer: a stop string that needs it does not match.
    const spaced = await wholeAndStreamed('/v1/chat/completions', { ...CHAT, stop: ' Hel' });
    assert.equal(spaced.text, 'Hello world😀!é the');
  });

  it('text held back as the start of a stop string is sent when max_tokens ends the answer', async () => {
    // Six tokens: the two words and the emoji's four bytes; "😀" could begin the stop "😀!".
    const cut = await wholeAndStreamed('/v1/chat/completions', { ...CHAT, stop: '😀!', max_tokens: 6 });
    assert.equal(cut.text, 'Hello world😀');
    assert.equal(cut.finishReason, 'length');
    assert.equal(cut.usage.completion_tokens, 6);
    // Cut inside the emoji: the bytes that came are one U+FFFD, not lost and not broken UTF-8.
    const inside = await wholeAndStreamed('/v1/chat/completions', { ...CHAT, max_tokens: 4 });
    assert.equal(inside.text, 'Hello world\uFFFD');
    assert.equal(inside.finishReason, 'length');
  });

  it('a stream option the engine does not serve is refused naming it, not ignored', async () => {
    for (const [options, param] of [[{ include_usage: true, continuous_usage_stats: true }, 'stream_options.continuous_usage_stats'],
      [{ include_usge: true }, 'stream_options.include_usge'], [{ include_obfuscation: true }, 'stream_options.include_obfuscation']]) {
      const res = await gw.chat(KEY, { ...CHAT, stream: true, stream_options: options });
      assertError(res, { status: 400, code: 'invalid_request' }, JSON.stringify(options));
      assert.equal(res.json.error.param, param, res.text);
    }
    const plain = await wholeAndStreamed('/v1/chat/completions', { ...CHAT, max_tokens: 1 });
    assert.equal(plain.text, 'Hello');
  });
});
