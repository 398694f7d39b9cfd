#include <doctest/doctest.h>

#include <random>

#include "accel/tokenizer/token_stream_decoder.hpp"
#include "tests/unit/accel/tokenizer_fixtures.hpp"

using sovereign::accel::TokenStreamDecoder;
using namespace sovereign::accel::test;

namespace {

std::vector<std::string> stream(const sovereign::accel::Tokenizer& t, const std::vector<std::int32_t>& ids) {
  TokenStreamDecoder decoder(t);
  std::vector<std::string> pieces;
  for (const auto id : ids) pieces.push_back(decoder.push(id));
  pieces.push_back(decoder.finish());
  return pieces;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

}  // namespace

TEST_CASE("a character split over byte tokens is held back until it is complete") {
  const auto parsed = parse_written(spm_writer());
  const auto t = load_tokenizer(parsed);
  const auto ids = t->encode("h\xC3\xA9", false);  // ▁ h <0xC3> <0xA9>
  REQUIRE(ids.size() == 4);
  CHECK(stream(*t, ids) == std::vector<std::string>{"", "h", "", "\xC3\xA9", ""});
}

TEST_CASE("sentencepiece's leading space is removed once, at the start of the stream") {
  const auto parsed = parse_written(spm_writer());
  const auto t = load_tokenizer(parsed);
  CHECK(joined(stream(*t, t->encode("hello world", false))) == "hello world");
  const auto bpe_parsed = parse_written(bpe_writer("default"));
  const auto bpe = load_tokenizer(bpe_parsed);
  CHECK(joined(stream(*bpe, bpe->encode(" the", false))) == " the");
}

TEST_CASE("bytes that cannot form a character become U+FFFD, at once or at the end") {
  const auto parsed = parse_written(bpe_writer("default"));
  const auto t = load_tokenizer(parsed);
  // 0xFF never starts a character; 0xE6 followed by 'a' can never complete; 0xE6 0x9D at the end is unfinished.
  CHECK(stream(*t, {0xFF, 'a'}) == std::vector<std::string>{"\xEF\xBF\xBD", "a", ""});
  CHECK(stream(*t, {0xE6, 'a'}) == std::vector<std::string>{"", "\xEF\xBF\xBD" "a", ""});
  CHECK(stream(*t, {0xE6, 0x9D}) == std::vector<std::string>{"", "", "\xEF\xBF\xBD"});
  CHECK(stream(*t, {0xED, 0xA0, 0x80}) ==  // an encoded surrogate is not a character
        std::vector<std::string>{"", "\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD", ""});
  CHECK(stream(*t, {0xE6, 0x9D, 0xB1}) == std::vector<std::string>{"", "", "\xE6\x9D\xB1", ""});
}

TEST_CASE("streamed pieces of valid text join to exactly what decode() returns") {
  const auto spm_parsed = parse_written(spm_writer());
  const auto bpe_parsed = parse_written(bpe_writer("llama-bpe"));
  const auto spm = load_tokenizer(spm_parsed);
  const auto bpe = load_tokenizer(bpe_parsed);
  const std::vector<std::string> alphabet{" ", "h", "e", "llo", "\n", "\xC3\xA9", "\xE6\x9D\xB1", "\xF0\x9F\x98\x80", "x"};
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string text;
    for (int k = 0; k < i % 25; ++k) text += alphabet[rng() % alphabet.size()];
    for (const auto* t : {spm.get(), bpe.get()}) {
      const auto ids = t->encode(text, false, false);
      CHECK(joined(stream(*t, ids)) == t->decode(ids));
    }
  }
}
