#!/usr/bin/env python3
"""Derives small GGUF seeds (each < 64 KiB) from the demo model and hand-built BPE vocabularies,
plus text seeds for the tokenizer fuzzer."""
import os, struct, sys
sys.path.insert(0, os.path.dirname(__file__))
from gguf_tool import parse, write

demo_path, gdir, tdir = sys.argv[1], sys.argv[2], sys.argv[3]
b = open(demo_path, 'rb').read()
ver, kvs, tis, hdr_end, data_start, align = parse(b)

def save(d, name, data):
    open(os.path.join(d, name), 'wb').write(data)

# 1. prefixes of the demo file (headers/metadata cut at various points, data section cut)
for n in (4, 8, 24, 64, 512, 4096, hdr_end - 40, hdr_end, data_start, data_start + 4096, 65536):
    save(gdir, f'demo_prefix_{n}.gguf', b[:n])

# 2. demo metadata with tiny tensors of every supported type (f32 f16 q4_0 q8_0 q4_k q6_k bf16)
#    type ids: f32=0 f16=1 q4_0=2 q8_0=8 q4_k=12 q6_k=14 bf16=30 ; block bytes per 32/256 elems
tiny = [
    (b'blk.0.attn_norm.weight', [32], 0, bytes(range(128))),
    (b'token_embd.weight', [32, 2], 1, bytes(128)),
    (b'blk.0.attn_q.weight', [32, 1], 2, bytes(18)),
    (b'blk.0.attn_k.weight', [32, 1], 8, bytes(34)),
    (b'blk.0.ffn_up.weight', [256, 1], 12, bytes(144)),
    (b'blk.0.ffn_down.weight', [256, 1], 14, bytes(210)),
    (b'output.weight', [32, 1, 1, 1], 30, bytes(64)),
]
save(gdir, 'demo_tiny_tensors.gguf', write(kvs, tiny, align))
save(gdir, 'demo_meta_only.gguf', write(kvs, [], align))
# metadata only, no alignment key (default alignment) and version 2
nokey = [kv for kv in kvs if kv[0] != b'general.alignment']
v2 = bytearray(write(nokey, tiny[:2], 32)); v2[4:8] = struct.pack('<I', 2)
save(gdir, 'demo_v2_noalign.gguf', bytes(v2))
# alignment 64 variant
al = [(k, t, (64 if k == b'general.alignment' else v)) for k, t, v in kvs]
save(gdir, 'demo_align64.gguf', write(al, tiny[:3], 64))
# tokenizer without token_type / scores (exercises the default paths)
bare = [kv for kv in kvs if kv[0] not in (b'tokenizer.ggml.token_type', b'tokenizer.ggml.scores')]
save(gdir, 'demo_sp_no_types.gguf', write(bare, [], align))

# 3. byte-level BPE vocabularies (gpt2 model) under each pre-tokenizer
def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]; n = 0
    for x in range(256):
        if x not in bs:
            bs.append(x); cs.append(256 + n); n += 1
    return {b_: chr(c) for b_, c in zip(bs, cs)}
enc = bytes_to_unicode()
toks = [enc[i].encode() for i in range(256)]
merges = ['Ġ t', 'h e', 'Ġt he', 'i s', 'Ġ Ġ', '1 2', 'Ġ w', 'o r']
for m in merges:
    l, r = m.split(' ')
    toks.append((l + r).encode())
toks += [b'<|im_start|>', b'<|im_end|>', b'<|endoftext|>']
types = [1] * (len(toks) - 3) + [3, 3, 3]
tmpl = [kv for kv in kvs if kv[0] == b'tokenizer.chat_template']
for pre in ('default', 'llama-bpe', 'qwen2', 'gpt-2', 'deepseek-r1-qwen'):
    bk = [(b'general.architecture', 8, b'qwen2'),
          (b'tokenizer.ggml.model', 8, b'gpt2'),
          (b'tokenizer.ggml.pre', 8, pre.encode()),
          (b'tokenizer.ggml.tokens', 9, (8, toks)),
          (b'tokenizer.ggml.token_type', 9, (5, types)),
          (b'tokenizer.ggml.merges', 9, (8, [m.encode() for m in merges])),
          (b'tokenizer.ggml.eos_token_id', 4, len(toks) - 2),
          (b'tokenizer.ggml.add_bos_token', 7, False)] + tmpl
    save(gdir, f'bpe_{pre}.gguf', write(bk, tiny[:1], 32))

# 4. hand-made minimal headers
save(gdir, 'empty_v3.gguf', b'GGUF' + struct.pack('<IQQ', 3, 0, 0))
save(gdir, 'one_kv_array.gguf', write([(b'a', 9, (4, [1, 2, 3]))], []))
save(gdir, 'one_tensor.gguf', write([], [(b't', [8], 0, bytes(32))]))

# tokenizer fuzzer seeds: plain text fed to encode()/decode()
texts = {
    'hello.txt': 'Hello world',
    'chat.txt': '<|im_start|>user\nHello <|im_start|> w\u00f6rld 123!<|im_end|>\n',
    'spaces.txt': '  leading and  double   spaces \t tabs\nnewlines\r\n',
    'numbers.txt': '12 123 1234 3.14159 -42 1,000,000',
    'unicode.txt': 'caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001F600 \u0645\u0631\u062d\u0628\u0627 \u2581mark\u2581',
    'contractions.txt': "I'm don't we'll they're it's you've he'd",
    'code.txt': 'def f(x):\n    return x**2  # comment\n',
    'the.txt': ' the theis is the',
    'specials.txt': '<s></s><unk><|endoftext|><0x41>',
}
for name, t in texts.items():
    save(tdir, name, t.encode())
save(tdir, 'invalid_utf8.bin', b'\xff\xfe\xc3\x28\xe2\x82\x80abc\xf0\x9f\x98')
save(tdir, 'bytes.bin', bytes(range(256)))
