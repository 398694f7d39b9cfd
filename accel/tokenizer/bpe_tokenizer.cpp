#include "accel/tokenizer/bpe_tokenizer.hpp"

#include "accel/tokenizer/byte_unicode.hpp"
#include "accel/tokenizer/pair_merger.hpp"
#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel {

std::variant<std::unique_ptr<Tokenizer>, std::string> BpeTokenizer::create(const gguf::File& file) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  // Absent means GPT-2's rules; present with another type must not mean them silently.
  if (file.find("tokenizer.ggml.pre") != nullptr && !file.get_string("tokenizer.ggml.pre"))
    return gguf::metadata_type_error(file, "tokenizer.ggml.pre", "string");
  const std::string pre(file.get_string("tokenizer.ggml.pre").value_or("default"));
  const auto kind = pre_tokenizer_from_name(pre);
  if (!kind) {
    return gguf::metadata_key_label(file, "tokenizer.ggml.pre") + " is " + utf8::quoted(pre) +
           "; supported pre-tokenizers: default, gpt-2, smollm, llama-bpe, qwen2, deepseek-r1-qwen";
  }
  t->pre_kind_ = *kind;
  t->ignore_merges_ = *kind == PreTokenizer::llama3;
  if (auto error = load_vocabulary(file, /*default_add_bos=*/*kind == PreTokenizer::llama3, *t)) return *std::move(error);

  for (int b = 0; b < 256; ++b) {
    const auto id = t->find_token(byte_unicode::encode_byte(static_cast<unsigned char>(b)));
    if (!id) {
      return gguf::metadata_key_label(file, "tokenizer.ggml.tokens") + " lacks the byte-level token for byte " +
             std::to_string(b) + ", so some text could not be encoded";
    }
    t->byte_ids_[b] = *id;
  }

  const auto* merges = file.get_string_array("tokenizer.ggml.merges");
  if (merges == nullptr) return gguf::metadata_type_error(file, "tokenizer.ggml.merges", "array[string]");
  t->merges_.reserve(merges->size());
  for (std::size_t rank = 0; rank < merges->size(); ++rank) {
    const std::string& merge = (*merges)[rank];
    // Byte-level tokens never contain a raw space (it is spelled U+0120), so the first space separates the pair.
    const std::size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      return gguf::metadata_element_label(file, "tokenizer.ggml.merges", rank) + " is " + utf8::quoted(merge) +
             "; a merge is two tokens separated by a space";
    }
    const std::string_view left = std::string_view(merge).substr(0, space);
    const std::string_view right = std::string_view(merge).substr(space + 1);
    const auto left_id = t->find_token(left);
    const auto right_id = t->find_token(right);
    const auto joined_id = t->find_token(std::string(left) + std::string(right));
    if (!left_id || !right_id || !joined_id) {
      return gguf::metadata_element_label(file, "tokenizer.ggml.merges", rank) + " is " + utf8::quoted(merge) +
             "; it names or produces a token that is not in the vocabulary";
    }
    // The first (lowest-rank) occurrence of a pair wins.
    t->merges_.emplace(pair_key(*left_id, *right_id),
                       Merge{static_cast<std::int32_t>(rank), *joined_id});
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

void BpeTokenizer::encode_plain(std::string_view text, bool, std::vector<std::int32_t>& out) const {
  for (const std::string_view word : pre_tokenize(pre_kind_, text)) encode_word(word, out);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (ignore_merges_) {
    if (const auto id = find_token(byte_unicode::encode(word)); id && kinds_[*id] == TokenKind::normal) {
      out.push_back(*id);
      return;
    }
  }
  std::vector<MergeSymbol> symbols;
  symbols.reserve(word.size());
  for (std::size_t i = 0; i < word.size(); ++i) {
    symbols.push_back(MergeSymbol{i, 1, byte_ids_[static_cast<unsigned char>(word[i])]});
  }
  const auto merged = merge_pairs(std::move(symbols), [this](const MergeSymbol& left, const MergeSymbol& right)
                                                          -> std::optional<MergeCandidate> {
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end()) return std::nullopt;
    return MergeCandidate{static_cast<double>(it->second.rank), it->second.joined};
  });
  for (const MergeSymbol& symbol : merged) out.push_back(symbol.id);
}

std::string BpeTokenizer::piece_bytes(std::int32_t id) const {
  if (kinds_[id] == TokenKind::user_defined) return tokens_[id];
  // A normal token that is not byte-level text (some vocabularies carry such entries) is shown as written.
  return byte_unicode::decode(tokens_[id]).value_or(tokens_[id]);
}

}  // namespace sovereign::accel
