// SentencePiece (BPE by piece score, byte fallback) as GGUF "llama" tokenizers use it.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel {

// Merges the adjacent pair whose joined piece has the highest score; unknown characters fall back to <0xXX> tokens.
class SentencePieceTokenizer final : public Tokenizer {
 public:
  [[nodiscard]] static std::variant<std::unique_ptr<Tokenizer>, std::string> create(const gguf::File& file);

 private:
  void encode_plain(std::string_view text, bool after_special, std::vector<std::int32_t>& out) const override;
  std::string piece_bytes(std::int32_t id) const override;
  bool strips_leading_space() const override { return add_space_prefix_; }
  // Ids of pieces that merging may produce (not control, byte or unknown tokens).
  std::optional<std::int32_t> mergeable_piece(std::string_view text) const;

  std::vector<float> scores_;
  std::array<std::int32_t, 256> byte_ids_{};  // -1 where the vocabulary has no <0xXX> token
  bool add_space_prefix_ = true;
};

}  // namespace sovereign::accel
