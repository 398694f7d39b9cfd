// The demo model's GGUF file (v3, little-endian) as tests read and rewrite it: where each tensor's
// data lies, the vocabulary, and a copy whose greedy answer is a script of chosen tokens.
import assert from 'node:assert/strict';
import fs from 'node:fs';

// Bytes of each fixed-size metadata value type (GGUF's numbering).
const FIXED_SIZE = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

// { tensors: { name: { type, dims, offset, at } } (at: the data's byte offset in the file),
//   tokens: tokenizer.ggml.tokens }.
export function ggufLayout(bytes) {
  let at = 4 + 4;
  const u32 = () => { const v = bytes.readUInt32LE(at); at += 4; return v; };
  const u64 = () => { const v = Number(bytes.readBigUInt64LE(at)); at += 8; return v; };
  const str = () => { const n = u64(); const v = bytes.toString('utf8', at, at + n); at += n; return v; };
  // Strings, arrays and u32 values are read; other numbers are only stepped over.
  const value = (type) => {
    if (type === 8) return str();
    if (type === 9) {
      const inner = u32();
      return Array.from({ length: u64() }, () => value(inner));
    }
    const v = type === 4 ? bytes.readUInt32LE(at) : undefined;
    at += FIXED_SIZE[type];
    return v;
  };
  const tensorCount = u64();
  const kvCount = u64();
  const metadata = {};
  for (let i = 0; i < kvCount; ++i) {
    const key = str();
    metadata[key] = value(u32());
  }
  const tensors = {};
  for (let i = 0; i < tensorCount; ++i) {
    const name = str();
    const dims = Array.from({ length: u32() }, u64);
    tensors[name] = { dims, type: u32(), offset: u64() };
  }
  const alignment = metadata['general.alignment'] ?? 32;
  const dataStart = Math.ceil(at / alignment) * alignment;
  for (const t of Object.values(tensors)) t.at = dataStart + t.offset;
  return { tensors, tokens: metadata['tokenizer.ggml.tokens'] ?? [] };
}

const F32 = 0;
const elements = (t) => t.dims.reduce((a, b) => a * b, 1);

// Copies an f32 demo model (`model make-demo --type f32`) so that greedy decoding follows `chain`,
// token texts as the vocabulary writes them ('▁Hello', '<0xF0>', '<|im_end|>'): the token after
// chain[i] is always chain[i + 1], so a prompt ending with chain[0] is answered with the rest. Every
// layer's output projections are zero, so the residual stream stays the token's embedding, a unit
// vector on a dimension of its own; the norms' weights are one, and the successor's output row reads
// that dimension (tests/unit/accel/compute/tiny_model.cpp scripts its tiny models the same way).
export function scriptedModel(source, target, chain) {
  const bytes = fs.readFileSync(source);
  const { tensors, tokens } = ggufLayout(bytes);
  const id = (text) => {
    const found = tokens.indexOf(text);
    assert.ok(found >= 0, `the model's vocabulary has ${JSON.stringify(text)}`);
    return found;
  };
  const width = tensors['token_embd.weight'].dims[0];
  const steps = chain.slice(0, -1).map((text, i) => [id(text), id(chain[i + 1])]);
  assert.ok(steps.length <= width, `at most ${width} steps`);
  assert.equal(new Set(steps.map(([from]) => from)).size, steps.length, 'each token is followed by one token only');
  for (const [name, t] of Object.entries(tensors)) {
    assert.equal(t.type, F32, `${name} is f32`);
    const zero = ['token_embd.weight', 'output.weight'].includes(name) || /\.(attn_output|ffn_down)\.weight$/.test(name);
    const fill = zero ? 0 : name.endsWith('norm.weight') ? 1 : null;
    if (fill !== null) for (let i = 0; i < elements(t); ++i) bytes.writeFloatLE(fill, t.at + 4 * i);
  }
  steps.forEach(([from, to], dim) => {
    bytes.writeFloatLE(1, tensors['token_embd.weight'].at + 4 * (from * width + dim));
    bytes.writeFloatLE(1, tensors['output.weight'].at + 4 * (to * width + dim));
  });
  fs.writeFileSync(target, bytes);
  return target;
}
