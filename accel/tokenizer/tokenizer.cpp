#include "accel/tokenizer/tokenizer.hpp"

#include <algorithm>

#include "accel/tokenizer/bpe_tokenizer.hpp"
#include "accel/tokenizer/sentencepiece_tokenizer.hpp"
#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel {
namespace {

constexpr std::size_t kMaxVocabulary = 1u << 20;

// Vocabulary entries that end an assistant turn in the chat formats this engine renders.
constexpr std::string_view kEndOfTurnTexts[] = {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>",
                                                "<|end|>",    "<|eom_id|>"};

// The markup the chat formats write around messages (chatml, llama3, llama2/mistral, zephyr), beside
// the end-of-turn entries above: turn markers, whatever type a file gives them (see load_vocabulary).
constexpr std::string_view kTurnMarkupTexts[] = {"<|im_start|>", "<|start_header_id|>", "<|end_header_id|>",
                                                 "<|begin_of_text|>", "[INST]", "[/INST]", "<s>", "</s>",
                                                 "<|system|>", "<|user|>", "<|assistant|>"};

std::optional<std::string> read_token_id(const gguf::File& file, std::string_view key, std::size_t vocab,
                                         std::int32_t& out) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return std::nullopt;
  const auto id = file.get_int(key);
  if (!id) return gguf::metadata_key_label(file, key) + " must be an integer token id";
  // Some converters write -1 (or UINT32_MAX) for "no such token".
  if (*id == -1 || *id == 0xFFFFFFFF) {
    out = -1;
    return std::nullopt;
  }
  if (*id < 0 || static_cast<std::uint64_t>(*id) >= vocab) {
    return gguf::metadata_key_label(file, key) + " is " + std::to_string(*id) + ", outside the vocabulary of " +
           std::to_string(vocab) + " tokens";
  }
  out = static_cast<std::int32_t>(*id);
  return std::nullopt;
}

}  // namespace

std::variant<std::unique_ptr<Tokenizer>, std::string> Tokenizer::from_gguf(const gguf::File& file) {
  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) return gguf::metadata_type_error(file, "tokenizer.ggml.model", "string ('llama' or 'gpt2')");
  if (*model == "llama") return SentencePieceTokenizer::create(file);
  if (*model == "gpt2") return BpeTokenizer::create(file);
  return gguf::metadata_key_label(file, "tokenizer.ggml.model") + " is " + utf8::quoted(*model) +
         "; supported: 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)";
}

std::optional<std::string> Tokenizer::load_vocabulary(const gguf::File& file, bool default_add_bos, Tokenizer& into) {
  into.model_ = std::string(file.get_string("tokenizer.ggml.model").value_or(""));
  into.pre_ = std::string(file.get_string("tokenizer.ggml.pre").value_or("default"));
  const auto* tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (tokens == nullptr) return gguf::metadata_type_error(file, "tokenizer.ggml.tokens", "array[string]");
  if (tokens->empty() || tokens->size() > kMaxVocabulary) {
    return gguf::metadata_key_label(file, "tokenizer.ggml.tokens") + " has " + std::to_string(tokens->size()) +
           " entries; expected 1.." + std::to_string(kMaxVocabulary);
  }
  into.tokens_ = *tokens;
  into.kinds_.assign(tokens->size(), TokenKind::normal);
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    const auto* types = file.get_int_array("tokenizer.ggml.token_type");
    if (types == nullptr) return gguf::metadata_type_error(file, "tokenizer.ggml.token_type", "array[i32]");
    if (types->size() != tokens->size()) {
      return gguf::metadata_key_label(file, "tokenizer.ggml.token_type") + " has " + std::to_string(types->size()) +
             " entries but tokenizer.ggml.tokens has " + std::to_string(tokens->size()) + "; one type per token";
    }
    for (std::size_t i = 0; i < types->size(); ++i) {
      const std::int32_t t = (*types)[i];
      if (t < static_cast<std::int32_t>(TokenKind::normal) || t > static_cast<std::int32_t>(TokenKind::byte)) {
        return gguf::metadata_element_label(file, "tokenizer.ggml.token_type", i) + " is " + std::to_string(t) +
               "; token types are 1..6";
      }
      into.kinds_[i] = static_cast<TokenKind>(t);
    }
  }
  into.token_ids_.reserve(tokens->size());
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    // Duplicates exist in some published vocabularies; the first id wins, as in the reference tokenizers.
    into.token_ids_.emplace((*tokens)[i], static_cast<std::int32_t>(i));
  }

  // Turn markers stay markup. A converter that does not tell a tokenizer's special added tokens from
  // its other added tokens types them all user-defined, <|im_start|> and <|im_end|> included; and
  // user-defined tokens are matched in any text, so message content could then close its own turn
  // and open a system one, and a generated <|im_end|> would not end the answer. Such entries are read
  // as control tokens: matched in the template's markup only, decoded to nothing, and ending a turn
  // where they end one.
  const auto as_control = [&into](std::int32_t id) {
    if (id >= 0 && into.kinds_[id] == TokenKind::user_defined) into.kinds_[id] = TokenKind::control;
  };
  const auto texts_as_control = [&into, &as_control](std::span<const std::string_view> texts) {
    for (const auto text : texts)
      if (const auto id = into.find_token(text)) as_control(*id);
  };
  texts_as_control(kTurnMarkupTexts);
  texts_as_control(kEndOfTurnTexts);

  const std::size_t vocab = tokens->size();
  // Without explicit ids, well-known spellings are used, but only for tokens marked as special: some vocabularies
  // (Qwen's) carry "<s>" as ordinary text.
  const auto lookup = [&](std::initializer_list<std::string_view> texts, TokenKind kind) {
    for (const auto text : texts) {
      if (const auto id = into.find_token(text); id && into.kinds_[*id] == kind) return *id;
    }
    return std::int32_t{-1};
  };
  into.bos_ = lookup({"<s>", "<|begin_of_text|>"}, TokenKind::control);
  into.eos_ = lookup({"</s>", "<|end_of_text|>", "<|endoftext|>"}, TokenKind::control);
  into.unk_ = lookup({"<unk>"}, TokenKind::unknown);
  std::int32_t eot = -1;
  std::int32_t eom = -1;
  if (auto e = read_token_id(file, "tokenizer.ggml.bos_token_id", vocab, into.bos_)) return e;
  if (auto e = read_token_id(file, "tokenizer.ggml.eos_token_id", vocab, into.eos_)) return e;
  if (auto e = read_token_id(file, "tokenizer.ggml.unknown_token_id", vocab, into.unk_)) return e;
  if (auto e = read_token_id(file, "tokenizer.ggml.eot_token_id", vocab, eot)) return e;
  if (auto e = read_token_id(file, "tokenizer.ggml.eom_token_id", vocab, eom)) return e;
  for (const std::int32_t id : {into.bos_, into.eos_, eot, eom}) as_control(id);

  if (file.find("tokenizer.ggml.add_bos_token") != nullptr) {
    const auto add_bos = file.get_bool("tokenizer.ggml.add_bos_token");
    if (!add_bos) return gguf::metadata_key_label(file, "tokenizer.ggml.add_bos_token") + " must be a bool";
    into.add_bos_ = *add_bos;
  } else {
    into.add_bos_ = default_add_bos;
  }
  // Read for its type only: its value is never applied. An EOS after a chat prompt would close the
  // assistant turn the template just opened, and the model would answer with nothing (or start a
  // turn of its own); a plain completion prompt is continued, not ended, so it gets none either.
  if (file.find("tokenizer.ggml.add_eos_token") != nullptr && !file.get_bool("tokenizer.ggml.add_eos_token"))
    return gguf::metadata_key_label(file, "tokenizer.ggml.add_eos_token") + " must be a bool";

  for (const std::int32_t id : {into.eos_, eot, eom}) {
    if (id >= 0) into.end_of_turn_.push_back(id);
  }
  for (const auto text : kEndOfTurnTexts) {
    if (const auto id = into.find_token(text); id && into.kinds_[*id] == TokenKind::control) {
      into.end_of_turn_.push_back(*id);
    }
  }
  std::sort(into.end_of_turn_.begin(), into.end_of_turn_.end());
  into.end_of_turn_.erase(std::unique(into.end_of_turn_.begin(), into.end_of_turn_.end()), into.end_of_turn_.end());

  for (std::size_t i = 0; i < vocab; ++i) {
    const TokenKind kind = into.kinds_[i];
    const std::string& text = into.tokens_[i];
    if ((kind == TokenKind::control || kind == TokenKind::user_defined) && !text.empty()) {
      into.specials_by_first_byte_[static_cast<unsigned char>(text[0])].push_back(static_cast<std::int32_t>(i));
    }
  }
  for (auto& bucket : into.specials_by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](std::int32_t a, std::int32_t b) {
      return into.tokens_[a].size() > into.tokens_[b].size();
    });
  }
  return std::nullopt;
}

std::optional<std::int32_t> Tokenizer::find_token(std::string_view text) const {
  const auto it = token_ids_.find(text);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::int32_t> Tokenizer::special_at(std::string_view text, std::size_t pos, bool parse_special) const {
  for (const std::int32_t id : specials_by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    if (!parse_special && kinds_[id] == TokenKind::control) continue;
    if (text.substr(pos).starts_with(tokens_[id])) return id;
  }
  return std::nullopt;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  const TextSegment segment{text, parse_special};
  return encode_segments(std::span(&segment, 1), add_bos);
}

std::vector<std::int32_t> Tokenizer::encode_segments(std::span<const TextSegment> segments, bool add_bos) const {
  std::vector<std::int32_t> out;
  std::size_t total = 0;
  for (const auto& segment : segments) total += segment.text.size();
  out.reserve(total / 3 + 2);
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  // Plain text between special tokens may span segments; it is gathered and encoded as one piece.
  std::string plain;
  bool after_special = true;
  const auto flush = [&] {
    if (plain.empty()) return;
    encode_plain(plain, after_special, out);
    plain.clear();
    after_special = false;
  };
  for (const auto& segment : segments) {
    const std::string_view text = segment.text;
    std::size_t fragment_start = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      // User-defined tokens always count; control tokens only where the segment allows them.
      const auto special = special_at(text, pos, segment.parse_special);
      if (!special) {
        ++pos;
        continue;
      }
      plain.append(text.substr(fragment_start, pos - fragment_start));
      flush();
      out.push_back(*special);
      after_special = true;
      pos += tokens_[*special].size();
      fragment_start = pos;
    }
    plain.append(text.substr(fragment_start));
  }
  flush();
  return out;
}

std::string Tokenizer::decode_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return {};
  switch (kinds_[id]) {
    case TokenKind::control: return {};
    case TokenKind::unknown: return "\xEF\xBF\xBD";  // U+FFFD: the input held something the vocabulary cannot spell
    case TokenKind::normal:
    case TokenKind::user_defined:
    case TokenKind::unused:
    case TokenKind::byte: return piece_bytes(id);
  }
  return {};
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string out;
  for (const std::int32_t id : ids) out += decode_token(id);
  if (strips_leading_space() && !out.empty() && out.front() == ' ') out.erase(0, 1);
  return out;
}

TokenKind Tokenizer::kind_of(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= kinds_.size()) return TokenKind::unused;
  return kinds_[id];
}

const std::string& Tokenizer::token_text(std::int32_t id) const {
  static const std::string kNone;
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return kNone;
  return tokens_[id];
}

}  // namespace sovereign::accel
