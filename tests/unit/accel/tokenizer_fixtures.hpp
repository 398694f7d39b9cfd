// Small vocabularies written as in-memory GGUF files, small enough to check every merge by hand.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "accel/gguf/gguf_file.hpp"
#include "accel/gguf/gguf_writer.hpp"
#include "accel/tokenizer/byte_unicode.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel::test {

// Keeps the GGUF image alive as long as the File that views it.
struct ParsedGguf {
  std::vector<std::byte> image;
  std::unique_ptr<gguf::File> file;
};

inline ParsedGguf parse_written(const gguf::Writer& writer) {
  ParsedGguf parsed;
  REQUIRE_FALSE(writer.serialize(parsed.image).has_value());
  auto result = gguf::File::parse(parsed.image);
  REQUIRE(std::holds_alternative<gguf::File>(result));
  parsed.file = std::make_unique<gguf::File>(std::move(std::get<gguf::File>(result)));
  return parsed;
}

// Pieces after the specials and the 256 byte tokens: SentencePiece ids start at 259.
inline const std::vector<std::pair<std::string, float>>& spm_pieces() {
  static const std::vector<std::pair<std::string, float>> pieces{
      {"\xE2\x96\x81", -1}, {"h", -1}, {"e", -1}, {"l", -1}, {"o", -1}, {"w", -1}, {"r", -1}, {"d", -1},
      {"he", -3}, {"ll", -2}, {"llo", -4}, {"hello", -5}, {"\xE2\x96\x81hello", -6}, {"\xE2\x96\x81w", -7},
      {"or", -8}, {"\xE2\x96\x81wor", -9}, {"ld", -10}, {"\xE2\x96\x81world", -11},
      {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -1.5f}, {"bc", -1.25f}, {"x", -1}, {"y", -1}, {"z", -1},
      {"xy", -2}, {"yz", -2},
  };
  return pieces;
}

inline gguf::Writer spm_writer() {
  std::vector<std::string> tokens{"<unk>", "<s>", "</s>"};
  std::vector<float> scores{0, 0, 0};
  std::vector<std::int32_t> types{2, 3, 3};
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
    scores.push_back(0);
    types.push_back(6);
  }
  for (const auto& [piece, score] : spm_pieces()) {
    tokens.push_back(piece);
    scores.push_back(score);
    types.push_back(1);
  }
  tokens.push_back("<|im_start|>");
  scores.push_back(0);
  types.push_back(3);
  tokens.push_back("<|im_end|>");
  scores.push_back(0);
  types.push_back(3);
  gguf::Writer w;
  w.set("tokenizer.ggml.model", std::string("llama"));
  w.set("tokenizer.ggml.tokens", tokens);
  w.set("tokenizer.ggml.scores", scores);
  w.set("tokenizer.ggml.token_type", types);
  w.set("tokenizer.ggml.bos_token_id", std::uint32_t{1});
  w.set("tokenizer.ggml.eos_token_id", std::uint32_t{2});
  w.set("tokenizer.ggml.unknown_token_id", std::uint32_t{0});
  return w;
}

// Byte-level vocabulary: id b (0..255) is byte b's stand-in, then four merges, then two control tokens.
inline gguf::Writer bpe_writer(const std::string& pre) {
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(byte_unicode::encode_byte(static_cast<unsigned char>(b)));
    types.push_back(1);
  }
  for (const char* t : {"\xC4\xA0t", "he", "\xC4\xA0the", "is"}) {  // 256..259 ("Ġt", "he", "Ġthe", "is")
    tokens.push_back(t);
    types.push_back(1);
  }
  tokens.push_back("<|endoftext|>");  // 260
  types.push_back(3);
  tokens.push_back("<|im_start|>");  // 261
  types.push_back(3);
  gguf::Writer w;
  w.set("tokenizer.ggml.model", std::string("gpt2"));
  w.set("tokenizer.ggml.pre", pre);
  w.set("tokenizer.ggml.tokens", tokens);
  w.set("tokenizer.ggml.token_type", types);
  w.set("tokenizer.ggml.merges", std::vector<std::string>{"\xC4\xA0 t", "h e", "\xC4\xA0t he", "i s"});
  w.set("tokenizer.ggml.eos_token_id", std::uint32_t{260});
  return w;
}

inline std::unique_ptr<Tokenizer> load_tokenizer(const ParsedGguf& parsed) {
  auto result = Tokenizer::from_gguf(*parsed.file);
  if (const auto* error = std::get_if<std::string>(&result)) FAIL(*error);
  return std::move(std::get<std::unique_ptr<Tokenizer>>(result));
}

}  // namespace sovereign::accel::test
