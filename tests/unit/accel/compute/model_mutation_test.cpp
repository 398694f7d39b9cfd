// A model file changed in any byte of its header, metadata or tensor directory (and in a sample of its
// weights) is refused with a message, or loads as a model whose CPU forward pass runs. The fuzz
// target tests/fuzz/model_fuzz asks the same of any bytes, under the sanitizers.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "accel/compute/model_loader.hpp"
#include "forward_probe.hpp"
#include "tiny_model.hpp"

using namespace sovereign::accel;

namespace {

std::vector<std::byte> model_image(const test::TinyModelSpec& spec) {
  const auto path = test::temporary_model_path("mutation");
  REQUIRE(test::write_tiny_model(path, spec) == "");
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  std::vector<std::byte> image(chars.size());
  std::transform(chars.begin(), chars.end(), image.begin(), [](char c) { return static_cast<std::byte>(c); });
  return image;
}

struct Outcomes {
  std::size_t loaded = 0;
  std::size_t refused = 0;
};

// Parses and loads `image` as the model loader does a file; a model that loads runs its forward pass.
void load_and_run(std::span<const std::byte> image, Outcomes& outcomes) {
  auto parsed = gguf::File::parse(image);
  auto* file = std::get_if<gguf::File>(&parsed);
  if (file == nullptr) {
    ++outcomes.refused;
    CHECK_FALSE(std::get<gguf::Error>(parsed).message.empty());
    return;
  }
  auto loaded = compute::load_model(std::move(*file));
  if (auto* model = std::get_if<std::unique_ptr<compute::LoadedModel>>(&loaded)) {
    ++outcomes.loaded;
    test::forward_probe(**model);
  } else {
    ++outcomes.refused;
    CHECK_FALSE(std::get<std::string>(loaded).empty());
  }
}

// Where the tensor data begins: everything before it is header, metadata and tensor directory.
std::size_t data_start(std::span<const std::byte> image) {
  auto parsed = gguf::File::parse(image);
  REQUIRE(std::holds_alternative<gguf::File>(parsed));
  std::size_t start = image.size();
  for (const gguf::TensorInfo& tensor : std::get<gguf::File>(parsed).tensors())
    start = std::min<std::size_t>(start, tensor.offset_in_file);
  return start;
}

void mutate_every_byte(const test::TinyModelSpec& spec) {
  const std::vector<std::byte> image = model_image(spec);
  Outcomes original;
  load_and_run(image, original);
  REQUIRE(original.loaded == 1);
  const std::size_t data = data_start(image);
  REQUIRE(data < image.size());
  Outcomes outcomes;
  std::vector<std::byte> mutated = image;
  const auto try_value = [&](std::size_t at, std::byte value) {
    mutated[at] = value;
    load_and_run(mutated, outcomes);
    mutated[at] = image[at];
  };
  for (std::size_t at = 0; at < data; ++at) {
    for (const unsigned value : {0x00u, 0x01u, 0x7fu, 0x80u, 0xffu}) try_value(at, static_cast<std::byte>(value));
    try_value(at, image[at] ^ std::byte{0x10});
  }
  // Weights: bytes that make a float or a block's scale NaN, infinite or huge.
  for (std::size_t at = data; at < image.size(); at += 61)
    for (const unsigned value : {0x7fu, 0xffu}) try_value(at, static_cast<std::byte>(value));
  CAPTURE(data);
  CHECK(outcomes.refused > 0);
  CHECK(outcomes.loaded > 0);
}


}  // namespace

TEST_CASE("a llama model with q4_0 weights and scaled rope, changed in any byte, is refused or runs") {
  test::TinyModelSpec spec = test::smallest_tiny_model(gguf::TensorType::q4_0);
  spec.rope_freqs = true;
  spec.rope_linear_factor = 2.0f;
  mutate_every_byte(spec);
}

TEST_CASE("a qwen2 model with q8_0 weights and biases, changed in any byte, is refused or runs") {
  test::TinyModelSpec spec = test::smallest_tiny_model(gguf::TensorType::q8_0);
  spec.architecture = "qwen2";
  mutate_every_byte(spec);
}

TEST_CASE("a llama model with tied f16 embeddings, changed in any byte, is refused or runs") {
  test::TinyModelSpec spec = test::smallest_tiny_model(gguf::TensorType::f16);
  spec.tied_embeddings = true;
  mutate_every_byte(spec);
}
