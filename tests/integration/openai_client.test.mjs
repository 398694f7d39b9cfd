// The official openai npm client, unmodified, pointed at the gateway: plain and streamed chat,
// completions, embeddings, the model list, and errors mapped to the client's exception types.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Gateway, openaiBackend, tenant } from './lib/gateway.mjs';
import { Upstream } from './lib/upstream.mjs';

const KEY = 'sk-openai-client-tenant';

describe('official openai client', () => {
  let upstream;
  let gw;
  let client;

  before(async () => {
    upstream = await Upstream.start({ name: 'client-upstream', reply: 'The answer is 42.', chunks: 5, 'chunk-delay-ms': 20 });
    gw = await Gateway.start({
      tenants: [tenant({ name: 'client', keys: [KEY], models: ['gpt-local', 'embed-local'] })],
      backends: [openaiBackend({ name: 'client-be', models: ['gpt-local', 'embed-local', 'secret-model'], upstreams: [upstream] })],
    });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.apiPort}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20000 });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.stop();
  });

  it('chat.completions.create returns the answer', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-local', messages: [{ role: 'user', content: 'What is the answer?' }],
    });
    assert.equal(completion.choices[0].message.content, 'The answer is 42.');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.usage.total_tokens, 12);
  });

  it('chat.completions.create with stream: true yields the answer chunk by chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-local', messages: [{ role: 'user', content: 'What is the answer?' }], stream: true,
    });
    const pieces = [];
    for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta?.content ?? '');
    assert.equal(pieces.join(''), 'The answer is 42.');
    assert.ok(pieces.filter(Boolean).length >= 5, `expected at least 5 content chunks, got ${JSON.stringify(pieces)}`);
  });

  it('completions.create returns the text', async () => {
    const completion = await client.completions.create({ model: 'gpt-local', prompt: 'The answer' });
    assert.equal(completion.choices[0].text, 'The answer is 42.');
  });

  it('embeddings.create returns one vector per input', async () => {
    const res = await client.embeddings.create({ model: 'embed-local', input: ['a', 'b', 'c'], encoding_format: 'float' });
    assert.equal(res.data.length, 3);
    assert.deepEqual(res.data[2].embedding, [0.25, -0.5, 0.375]);
  });

  it('models.list returns the tenant models', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids.sort(), ['embed-local', 'gpt-local']);
  });

  it('models.retrieve describes a model of the tenant; another raises NotFoundError', async () => {
    const model = await client.models.retrieve('gpt-local');
    assert.equal(model.id, 'gpt-local');
    assert.equal(model.object, 'model');
    await assert.rejects(client.models.retrieve('secret-model'),
      (err) => err instanceof OpenAI.NotFoundError && err.status === 404 && err.code === 'model_not_found');
  });

  it('a wrong key raises AuthenticationError', async () => {
    const wrong = new OpenAI({ baseURL: `http://127.0.0.1:${gw.apiPort}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.chat.completions.create({ model: 'gpt-local', messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof OpenAI.AuthenticationError && err.status === 401 && err.code === 'invalid_api_key');
  });

  it('a model the tenant may not use raises PermissionDeniedError', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'secret-model', messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof OpenAI.PermissionDeniedError && err.status === 403 && err.code === 'model_not_permitted');
  });

  it('an unknown model raises NotFoundError', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found');
  });
});
