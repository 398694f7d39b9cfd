#include "accel/tokenizer/sentencepiece_tokenizer.hpp"

#include <cmath>

#include "accel/tokenizer/pair_merger.hpp"
#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// "<0x41>" -> 0x41; nullopt for anything else.
std::optional<unsigned char> parse_byte_token(const std::string& text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    value <<= 4;
    if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
    else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
    else return std::nullopt;
  }
  return static_cast<unsigned char>(value);
}

}  // namespace

std::variant<std::unique_ptr<Tokenizer>, std::string> SentencePieceTokenizer::create(const gguf::File& file) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  if (auto error = load_vocabulary(file, /*default_add_bos=*/true, *t)) return *std::move(error);
  const std::size_t vocab = t->tokens_.size();
  if (file.find("tokenizer.ggml.scores") != nullptr) {
    const auto* scores = file.get_float_array("tokenizer.ggml.scores");
    if (scores == nullptr) return gguf::metadata_type_error(file, "tokenizer.ggml.scores", "array[f32]");
    if (scores->size() != vocab) {
      return gguf::metadata_key_label(file, "tokenizer.ggml.scores") + " has " + std::to_string(scores->size()) +
             " entries but tokenizer.ggml.tokens has " + std::to_string(vocab) + "; one score per token";
    }
    // A NaN compares false with everything, so the merge order would depend on where it happens to sit.
    for (std::size_t i = 0; i < vocab; ++i) {
      if (std::isnan((*scores)[i])) {
        return gguf::metadata_element_label(file, "tokenizer.ggml.scores", i) + " is NaN; scores are numbers";
      }
    }
    t->scores_ = *scores;
  } else {
    t->scores_.assign(vocab, 0.0f);
  }
  if (file.find("tokenizer.ggml.add_space_prefix") != nullptr) {
    const auto prefix = file.get_bool("tokenizer.ggml.add_space_prefix");
    if (!prefix) return gguf::metadata_type_error(file, "tokenizer.ggml.add_space_prefix", "bool");
    t->add_space_prefix_ = *prefix;
  }
  t->byte_ids_.fill(-1);
  const bool has_types = file.find("tokenizer.ggml.token_type") != nullptr;
  for (std::size_t i = 0; i < vocab; ++i) {
    const auto byte = parse_byte_token(t->tokens_[i]);
    if (!byte) {
      if (t->kinds_[i] == TokenKind::byte) {
        return gguf::metadata_element_label(file, "tokenizer.ggml.tokens", i) + " is " + utf8::quoted(t->tokens_[i]) +
               ", a byte token (tokenizer.ggml.token_type 6) but not of the form <0xXX>";
      }
      continue;
    }
    // Without token types, the <0xXX> spelling is what marks a byte token.
    if (!has_types) t->kinds_[i] = TokenKind::byte;
    if (t->kinds_[i] == TokenKind::byte && t->byte_ids_[*byte] < 0) t->byte_ids_[*byte] = static_cast<std::int32_t>(i);
  }
  for (std::size_t b = 0; b < 256; ++b) {
    if (t->byte_ids_[b] < 0 && t->unk_ < 0) {
      return gguf::metadata_key_label(file, "tokenizer.ggml.tokens") + " has no <0x" +
             std::string(1, "0123456789ABCDEF"[b >> 4]) + std::string(1, "0123456789ABCDEF"[b & 15]) +
             "> byte token and no unknown token, so some text could not be encoded";
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

std::optional<std::int32_t> SentencePieceTokenizer::mergeable_piece(std::string_view text) const {
  const auto id = find_token(text);
  if (!id) return std::nullopt;
  const TokenKind kind = kinds_[*id];
  if (kind == TokenKind::control || kind == TokenKind::byte || kind == TokenKind::unknown) return std::nullopt;
  return id;
}

void SentencePieceTokenizer::encode_plain(std::string_view text, bool after_special,
                                          std::vector<std::int32_t>& out) const {
  std::string escaped;
  escaped.reserve(text.size() + 8);
  if (add_space_prefix_ && after_special) escaped += kSpaceMark;
  for (const char c : text) {
    if (c == ' ') escaped += kSpaceMark;
    else escaped.push_back(c);
  }
  std::vector<MergeSymbol> symbols;
  symbols.reserve(escaped.size());
  for (std::size_t pos = 0; pos < escaped.size();) {
    std::size_t length = 1;
    utf8::decode(escaped, pos, length);
    const auto id = mergeable_piece(std::string_view(escaped).substr(pos, length));
    symbols.push_back(MergeSymbol{pos, length, id.value_or(-1)});
    pos += length;
  }
  const std::string_view view(escaped);
  const auto merged = merge_pairs(std::move(symbols), [&](const MergeSymbol& left, const MergeSymbol& right)
                                                          -> std::optional<MergeCandidate> {
    const auto id = mergeable_piece(view.substr(left.begin, left.length + right.length));
    if (!id) return std::nullopt;
    return MergeCandidate{-static_cast<double>(scores_[*id]), *id};
  });
  for (const MergeSymbol& symbol : merged) {
    if (symbol.id >= 0) {
      out.push_back(symbol.id);
      continue;
    }
    for (std::size_t i = 0; i < symbol.length; ++i) {
      const std::int32_t byte_id = byte_ids_[static_cast<unsigned char>(escaped[symbol.begin + i])];
      if (byte_id >= 0) out.push_back(byte_id);
      else if (unk_ >= 0) out.push_back(unk_);
    }
  }
}

std::string SentencePieceTokenizer::piece_bytes(std::int32_t id) const {
  const std::string& text = tokens_[id];
  if (kinds_[id] == TokenKind::byte) {
    if (const auto byte = parse_byte_token(text)) return std::string(1, static_cast<char>(*byte));
  }
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    if (std::string_view(text).substr(pos).starts_with(kSpaceMark)) {
      out.push_back(' ');
      pos += kSpaceMark.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

}  // namespace sovereign::accel
