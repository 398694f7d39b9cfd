#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "accel/tokenizer/pre_tokenizer.hpp"

using sovereign::accel::PreTokenizer;
using sovereign::accel::pre_tokenize;
using Words = std::vector<std::string>;

namespace {

Words split(PreTokenizer kind, std::string_view text) {
  Words out;
  for (const auto w : pre_tokenize(kind, text)) out.emplace_back(w);
  return out;
}

}  // namespace

TEST_CASE("gpt2 splitting keeps one leading space on words and leaves the last space of a run to the next word") {
  CHECK(split(PreTokenizer::gpt2, "Hello world's 123  foo!!\n") ==
        Words{"Hello", " world", "'s", " 123", " ", " foo", "!!", "\n"});
}

TEST_CASE("gpt2 contractions are case-sensitive") {
  CHECK(split(PreTokenizer::gpt2, "I'M we're") == Words{"I", "'", "M", " we", "'re"});
}

TEST_CASE("gpt2 classifies letters and numbers beyond ASCII with ICU") {
  CHECK(split(PreTokenizer::gpt2, "na\xC3\xAFve caf\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC x\xC2\xB2") ==
        Words{"na\xC3\xAFve", " caf\xC3\xA9", " \xE6\x9D\xB1\xE4\xBA\xAC", " x", "\xC2\xB2"});
}

TEST_CASE("llama3 splitting groups digits by three and folds contraction case") {
  CHECK(split(PreTokenizer::llama3, "Hello WORLD'S 12345 foo\n\nbar  ") ==
        Words{"Hello", " WORLD", "'S", " ", "123", "45", " foo", "\n\n", "bar", "  "});
}

TEST_CASE("llama3 attaches one non-letter prefix to a word and newlines to punctuation") {
  CHECK(split(PreTokenizer::llama3, "(hi) ?!\n\nx\tab") == Words{"(hi", ")", " ?!\n\n", "x", "\tab"});
}

TEST_CASE("llama3 ends a whitespace run at its last newline") {
  CHECK(split(PreTokenizer::llama3, "a \n \n  b") == Words{"a", " \n \n", " ", " b"});
}

TEST_CASE("qwen2 splits numbers into single digits") {
  CHECK(split(PreTokenizer::qwen2, "x 2024!") == Words{"x", " ", "2", "0", "2", "4", "!"});
}

TEST_CASE("invalid UTF-8 bytes are kept, each as part of some word") {
  const std::string text = "a\xFF\xFE b\xC3";
  std::string joined;
  for (const auto& w : split(PreTokenizer::llama3, text)) joined += w;
  CHECK(joined == text);
}

TEST_CASE("pre-tokenizer names map to the three splitters") {
  CHECK(sovereign::accel::pre_tokenizer_from_name("llama-bpe") == PreTokenizer::llama3);
  CHECK(sovereign::accel::pre_tokenizer_from_name("qwen2") == PreTokenizer::qwen2);
  CHECK(sovereign::accel::pre_tokenizer_from_name("default") == PreTokenizer::gpt2);
  CHECK_FALSE(sovereign::accel::pre_tokenizer_from_name("falcon").has_value());
}
