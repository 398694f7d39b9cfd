// Text <-> token ids for a GGUF model, built from its tokenizer.* metadata.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel {

// What a vocabulary entry is (values of tokenizer.ggml.token_type).
enum class TokenKind : std::int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// Lets the vocabulary be searched by string_view without building a std::string per lookup.
struct TokenTextHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

// A stretch of prompt text and whether special tokens written in it count (template markup) or not (content).
struct TextSegment {
  std::string_view text;
  bool parse_special = false;
};

// A model's tokenizer: SentencePiece ("llama") or byte-level BPE ("gpt2"); immutable and thread-safe once built.
class Tokenizer {
 public:
  // Validates the metadata (sizes, ids in range, merges naming known tokens); the error names the key.
  [[nodiscard]] static std::variant<std::unique_ptr<Tokenizer>, std::string> from_gguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // parse_special: control and user-defined tokens written literally in `text` ("<|im_start|>") become their ids;
  // pass false for untrusted content so it cannot forge them.
  std::vector<std::int32_t> encode(std::string_view text, bool add_bos, bool parse_special = true) const;
  // Encodes the concatenation of `segments` exactly as encode() would, except that special tokens are recognised
  // only inside segments that allow them: chat prompts use this so message content cannot forge turn markers.
  std::vector<std::int32_t> encode_segments(std::span<const TextSegment> segments, bool add_bos) const;
  // Raw bytes of one token (may be a partial UTF-8 sequence); empty for control tokens and ids out of range.
  std::string decode_token(std::int32_t id) const;
  std::string decode(std::span<const std::int32_t> ids) const;

  std::int32_t bos() const { return bos_; }
  std::int32_t eos() const { return eos_; }
  bool add_bos_by_default() const { return add_bos_; }
  // Ids that end an assistant turn (eos, eot, <|im_end|>, <|eot_id|>, <|end_of_text|> where present).
  std::vector<std::int32_t> end_of_turn_tokens() const { return end_of_turn_; }
  std::size_t vocab_size() const { return tokens_.size(); }
  TokenKind kind_of(std::int32_t id) const;
  const std::string& token_text(std::int32_t id) const;  // the vocabulary string as stored in the file
  // SentencePiece writes a space before the first word; decode() removes it, and so should a streaming decoder
  // from the first piece of a generated sequence.
  virtual bool strips_leading_space() const { return false; }
  std::string_view model_name() const { return model_; }  // "llama" or "gpt2"
  std::string_view pre_tokenizer() const { return pre_; }  // "default", "llama3", "qwen2", ...

 protected:
  Tokenizer() = default;
  // Reads what both kinds share (tokens, types, special ids, add_bos); `default_add_bos` applies when the file
  // has no tokenizer.ggml.add_bos_token. Returns an error naming the key.
  static std::optional<std::string> load_vocabulary(const gguf::File& file, bool default_add_bos, Tokenizer& into);
  std::optional<std::int32_t> find_token(std::string_view text) const;

  // Encodes text that contains no special tokens; `after_special` is true at the start and after a special token.
  virtual void encode_plain(std::string_view text, bool after_special, std::vector<std::int32_t>& out) const = 0;
  // Bytes of a normal, user-defined or byte token as the model writes them.
  virtual std::string piece_bytes(std::int32_t id) const = 0;

  std::vector<std::string> tokens_;
  std::vector<TokenKind> kinds_;
  std::unordered_map<std::string, std::int32_t, TokenTextHash, std::equal_to<>> token_ids_;
  std::array<std::vector<std::int32_t>, 256> specials_by_first_byte_;  // control + user-defined, longest first
  std::vector<std::int32_t> end_of_turn_;
  std::int32_t bos_ = -1;
  std::int32_t eos_ = -1;
  std::int32_t unk_ = -1;
  bool add_bos_ = false;
  std::string model_;
  std::string pre_;

 private:
  // The special token written at text[pos], if any (control tokens only when parse_special).
  std::optional<std::int32_t> special_at(std::string_view text, std::size_t pos, bool parse_special) const;
};

}  // namespace sovereign::accel
