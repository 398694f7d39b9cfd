#include <doctest/doctest.h>

#include <variant>

#include "accel/gguf/gguf_file.hpp"
#include "accel/gguf/gguf_writer.hpp"

namespace gguf = sovereign::accel::gguf;

namespace {

std::vector<std::byte> valid_image() {
  gguf::Writer w;
  w.set("general.architecture", std::string("llama"));
  w.set("general.alignment", std::uint32_t{32});
  w.set("llama.block_count", std::uint32_t{1});
  w.set("tokenizer.ggml.tokens", std::vector<std::string>{"<unk>", "<s>", "a", "b"});
  w.set("tokenizer.ggml.scores", std::vector<float>{0, 0, -1, -2});
  w.set("tokenizer.ggml.token_type", std::vector<std::int32_t>{2, 3, 1, 1});
  w.set("flag", false);
  std::vector<float> values(64, 0.25f);
  w.add_tensor("a", {32, 2}, gguf::TensorType::q8_0, gguf::quantize(gguf::TensorType::q8_0, values));
  w.add_tensor("b", {4, 2}, gguf::TensorType::f16, gguf::quantize(gguf::TensorType::f16, std::span(values).first(8)));
  std::vector<std::byte> image;
  REQUIRE_FALSE(w.serialize(image).has_value());
  return image;
}

// Whatever open() accepts must be internally consistent: every tensor view lies inside the image.
void check_outcome(const std::variant<gguf::File, gguf::Error>& result, std::span<const std::byte> image) {
  if (const auto* file = std::get_if<gguf::File>(&result)) {
    for (const auto& t : file->tensors()) {
      CHECK(t.data.data() >= image.data());
      CHECK(t.data.data() + t.data.size() <= image.data() + image.size());
      const auto expected = gguf::bytes_for_elements(t.type, t.element_count());
      REQUIRE(expected.has_value());
      CHECK(*expected == t.n_bytes);
    }
  } else {
    CHECK_FALSE(std::get<gguf::Error>(result).field.empty());
  }
}

}  // namespace

TEST_CASE("every truncation of a valid file is rejected or still consistent") {
  const auto image = valid_image();
  std::size_t rejected = 0;
  for (std::size_t length = 0; length < image.size(); ++length) {
    const std::vector<std::byte> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(length));
    const auto result = gguf::File::parse(cut);
    if (std::holds_alternative<gguf::Error>(result)) ++rejected;
    check_outcome(result, cut);
  }
  // Only the final padding after the last tensor may be cut without losing data that a field points at.
  CHECK(rejected >= image.size() - 32);
}

TEST_CASE("every single-byte mutation of a valid file is rejected or still consistent") {
  const auto image = valid_image();
  for (std::size_t at = 0; at < image.size(); ++at) {
    for (const unsigned value : {0x00u, 0x01u, 0x7fu, 0x80u, 0xffu}) {
      auto mutated = image;
      mutated[at] = static_cast<std::byte>(value);
      check_outcome(gguf::File::parse(mutated), mutated);
    }
    auto flipped = image;
    flipped[at] ^= std::byte{0x10};
    check_outcome(gguf::File::parse(flipped), flipped);
  }
}
