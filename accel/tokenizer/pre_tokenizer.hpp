// Splits text into the words a byte-level BPE model merges within, as each model family's regex does.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace sovereign::accel {

// gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// qwen2:  as llama3 with \p{N} (one digit per word).
enum class PreTokenizer { gpt2, llama3, qwen2 };

// Maps tokenizer.ggml.pre to a splitter; nullopt for names this engine does not implement.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);

// Words as views into `text`; they cover it exactly, in order. Unicode classes come from ICU.
std::vector<std::string_view> pre_tokenize(PreTokenizer kind, std::string_view text);

}  // namespace sovereign::accel
