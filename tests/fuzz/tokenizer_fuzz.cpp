// libFuzzer target: any text must encode without crashing and decode back to the same bytes, with the demo model's
// SentencePiece vocabulary and with a byte-level BPE vocabulary under each pre-tokenizer. SentencePiece writes a
// space as U+2581, so a literal U+2581 in the text decodes as a space, as in SentencePiece itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "accel/gguf/gguf_file.hpp"
#include "accel/gguf/gguf_writer.hpp"
#include "accel/tokenizer/byte_unicode.hpp"
#include "accel/tokenizer/demo_vocabulary.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace {

namespace accel = sovereign::accel;
namespace gguf = sovereign::accel::gguf;

// Keeps each GGUF image alive beside the File and Tokenizer built from it.
struct LoadedVocabulary {
  std::vector<std::byte> image;
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<accel::Tokenizer> tokenizer;
};

LoadedVocabulary load(const gguf::Writer& writer) {
  LoadedVocabulary v;
  if (writer.serialize(v.image)) std::abort();
  auto file = gguf::File::parse(v.image);
  if (!std::holds_alternative<gguf::File>(file)) std::abort();
  v.file = std::make_unique<gguf::File>(std::move(std::get<gguf::File>(file)));
  auto tokenizer = accel::Tokenizer::from_gguf(*v.file);
  if (!std::holds_alternative<std::unique_ptr<accel::Tokenizer>>(tokenizer)) std::abort();
  v.tokenizer = std::move(std::get<std::unique_ptr<accel::Tokenizer>>(tokenizer));
  return v;
}

gguf::Writer bpe_vocabulary(const char* pre) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(accel::byte_unicode::encode_byte(static_cast<unsigned char>(b)));
  const std::vector<std::string> merges{"\xC4\xA0 t", "h e", "\xC4\xA0t he", "i s", "\xC4\xA0 \xC4\xA0", "1 2"};
  for (const auto& merge : merges) {
    const auto space = merge.find(' ');
    tokens.push_back(merge.substr(0, space) + merge.substr(space + 1));
  }
  tokens.push_back("<|im_start|>");
  std::vector<std::int32_t> types(tokens.size(), 1);
  types.back() = 3;
  gguf::Writer w;
  w.set("tokenizer.ggml.model", std::string("gpt2"));
  w.set("tokenizer.ggml.pre", std::string(pre));
  w.set("tokenizer.ggml.tokens", tokens);
  w.set("tokenizer.ggml.token_type", types);
  w.set("tokenizer.ggml.merges", merges);
  return w;
}

const std::vector<LoadedVocabulary>& vocabularies() {
  static const std::vector<LoadedVocabulary> all = [] {
    std::vector<LoadedVocabulary> v;
    gguf::Writer demo;
    accel::write_demo_vocabulary(demo);
    v.push_back(load(demo));
    for (const char* pre : {"default", "llama-bpe", "qwen2"}) v.push_back(load(bpe_vocabulary(pre)));
    return v;
  }();
  return all;
}

std::string spaces_for_space_marks(std::string_view text) {
  constexpr std::string_view kSpaceMark = "\xE2\x96\x81";
  std::string out;
  for (std::size_t pos = 0; pos < text.size();) {
    if (text.substr(pos).starts_with(kSpaceMark)) {
      out.push_back(' ');
      pos += kSpaceMark.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& v : vocabularies()) {
    const auto ids = v.tokenizer->encode(text, true, /*parse_special=*/false);
    const bool sentencepiece = v.tokenizer->model_name() == "llama";
    if (v.tokenizer->decode(ids) != (sentencepiece ? spaces_for_space_marks(text) : std::string(text))) std::abort();
    (void)v.tokenizer->encode(text, false, /*parse_special=*/true);
  }
  return 0;
}
