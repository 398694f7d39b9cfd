// Byte-level BPE (GPT-2 style) as GGUF "gpt2" tokenizers use it, with the llama3/qwen2/gpt2 pre-tokenizers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "accel/tokenizer/pre_tokenizer.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel {

// Splits text into words, maps each byte to its printable stand-in, then applies merges in rank order.
class BpeTokenizer final : public Tokenizer {
 public:
  [[nodiscard]] static std::variant<std::unique_ptr<Tokenizer>, std::string> create(const gguf::File& file);

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t joined;
  };
  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32 | static_cast<std::uint32_t>(right);
  }

  void encode_plain(std::string_view text, bool after_special, std::vector<std::int32_t>& out) const override;
  std::string piece_bytes(std::int32_t id) const override;
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;

  PreTokenizer pre_kind_ = PreTokenizer::gpt2;
  bool ignore_merges_ = false;  // llama3: a word that is itself a token is not split
  std::array<std::int32_t, 256> byte_ids_{};
  std::unordered_map<std::uint64_t, Merge> merges_;
};

}  // namespace sovereign::accel
