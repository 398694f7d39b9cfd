// Loading a model: every configuration or tensor problem is an error naming the key or tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "accel/compute/model_loader.hpp"
#include "accel/gguf/quantize.hpp"
#include "tiny_model.hpp"

namespace sovereign::accel::test {
namespace {

std::string load_error(const TinyModelSpec& spec) {
  const std::filesystem::path path = temporary_model_path("load");
  REQUIRE(write_tiny_model(path, spec) == "");
  auto loaded = compute::load_model(path);
  std::filesystem::remove(path);
  if (auto* error = std::get_if<std::string>(&loaded)) return *error;
  return {};
}

// The file's bytes [at, at + n).
std::string bytes_at(const std::filesystem::path& path, std::uint64_t at, std::size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string out(n, '\0');
  REQUIRE(std::fseek(f, static_cast<long>(at), SEEK_SET) == 0);
  REQUIRE(std::fread(out.data(), 1, n, f) == n);
  std::fclose(f);
  return out;
}

}  // namespace

TEST_CASE("a well-formed tiny model loads with the configuration it was written with") {
  const std::filesystem::path path = temporary_model_path("load");
  TinyModelSpec spec;
  spec.architecture = "qwen2";
  spec.tied_embeddings = true;
  REQUIRE(write_tiny_model(path, spec) == "");
  auto loaded = compute::load_model(path);
  std::filesystem::remove(path);
  REQUIRE(std::holds_alternative<std::unique_ptr<compute::LoadedModel>>(loaded));
  const compute::ModelConfig& c = std::get<std::unique_ptr<compute::LoadedModel>>(loaded)->config;
  CHECK(c.architecture == compute::Architecture::qwen2);
  CHECK(c.rope_style == compute::RopeStyle::neox);
  CHECK(c.has_qkv_bias);
  CHECK(c.tied_embeddings);
  CHECK(c.n_vocab == kTinyVocab);
  CHECK(c.n_heads == 4);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.head_dim == 16);
  CHECK(c.trained_context == 256);
}

TEST_CASE("an unknown architecture is refused by name") {
  TinyModelSpec spec;
  spec.tamper = [](gguf::Writer& w) { w.set("general.architecture", std::string("gpt-j")); };
  CHECK(load_error(spec).find("metadata key 'general.architecture' (byte ") != std::string::npos);
  CHECK(load_error(spec).find(") is 'gpt-j'") != std::string::npos);
}

TEST_CASE("a missing or out-of-range hyper-parameter names its metadata key") {
  TinyModelSpec spec;
  spec.tamper = [](gguf::Writer& w) { w.set("llama.block_count", std::uint32_t{0}); };
  CHECK(load_error(spec).find("'llama.block_count' (byte ") != std::string::npos);
  CHECK(load_error(spec).find(") is 0, expected 1..1024") != std::string::npos);
  spec.tamper = [](gguf::Writer& w) { w.set("llama.attention.head_count_kv", std::uint32_t{3}); };
  CHECK(load_error(spec).find("not a multiple of metadata key 'llama.attention.head_count_kv' (byte ") != std::string::npos);
  spec.tamper = [](gguf::Writer& w) { w.set("llama.embedding_length", std::string("wide")); };
  CHECK(load_error(spec).find("'llama.embedding_length' (byte ") != std::string::npos);
  CHECK(load_error(spec).find(") is string; expected an integer") != std::string::npos);
  spec.tamper = [](gguf::Writer& w) { w.remove("llama.block_count"); };
  CHECK(load_error(spec).find("metadata key 'llama.block_count' is missing; expected an integer") != std::string::npos);
}

TEST_CASE("hyper-parameters that do not fit together are named with their keys and byte offsets") {
  TinyModelSpec spec;  // 64 wide, 4 heads: a head size of 16
  spec.tamper = [](gguf::Writer& w) { w.set("llama.attention.head_count_kv", std::uint32_t{3}); };
  std::string error = load_error(spec);
  CHECK_MESSAGE(error.find("metadata key 'llama.attention.head_count' (byte ") != std::string::npos, error);
  CHECK_MESSAGE(error.find(") is 4, not a multiple of metadata key 'llama.attention.head_count_kv' (byte ") !=
                    std::string::npos, error);
  CHECK_MESSAGE(error.find("), 3: ") != std::string::npos, error);

  spec.tamper = [](gguf::Writer& w) { w.set("llama.rope.dimension_count", std::uint32_t{15}); };
  error = load_error(spec);
  CHECK_MESSAGE(error.find("metadata key 'llama.rope.dimension_count' (byte ") != std::string::npos, error);
  CHECK_MESSAGE(error.find(") is 15, expected an even number at most the head size 16 (metadata key "
                           "'llama.embedding_length' (byte ") != std::string::npos, error);
  CHECK_MESSAGE(error.find(" / metadata key 'llama.attention.head_count' (byte ") != std::string::npos, error);
}

TEST_CASE("a hyper-parameter with a default is refused when present with the wrong type, not replaced by the default") {
  TinyModelSpec spec;
  // Some architectures write head_count_kv per layer; taking the default (head_count) would run the
  // model with the wrong attention shape.
  spec.tamper = [](gguf::Writer& w) { w.set("llama.attention.head_count_kv", std::vector<std::int32_t>{2, 2}); };
  std::string error = load_error(spec);
  CHECK(error.find("metadata key 'llama.attention.head_count_kv' (byte ") != std::string::npos);
  CHECK(error.find(") is array[i32]; expected an integer") != std::string::npos);
  // A rope base written as an integer must not silently become the default 10000.
  spec.tamper = [](gguf::Writer& w) { w.set("llama.rope.freq_base", std::uint32_t{500000}); };
  error = load_error(spec);
  CHECK(error.find("metadata key 'llama.rope.freq_base' (byte ") != std::string::npos);
  CHECK(error.find(") is u32; expected f32") != std::string::npos);
  spec.tamper = [](gguf::Writer& w) { w.set("llama.attention.layer_norm_rms_epsilon", 2.0f); };
  error = load_error(spec);
  CHECK(error.find(") is 2, expected more than 0 and at most 1") != std::string::npos);
  // 0 would divide by zero in RMS norm for an all-zero activation: as the message says, refused.
  spec.tamper = [](gguf::Writer& w) { w.set("llama.attention.layer_norm_rms_epsilon", 0.0f); };
  error = load_error(spec);
  CHECK(error.find("'llama.attention.layer_norm_rms_epsilon' (byte ") != std::string::npos);
  CHECK(error.find(") is 0, expected more than 0 and at most 1") != std::string::npos);
  spec.tamper = [](gguf::Writer& w) { w.set("llama.attention.layer_norm_rms_epsilon", -0.5f); };
  CHECK(load_error(spec).find(") is -0.5, expected more than 0 and at most 1") != std::string::npos);
  spec.tamper = [](gguf::Writer& w) { w.set("llama.rope.scaling.type", std::uint32_t{1}); };
  CHECK(load_error(spec).find("'llama.rope.scaling.type' (byte ") != std::string::npos);
  CHECK(load_error(spec).find(") is u32; expected string") != std::string::npos);
  // Absent, it takes its default (the tiny model's own 10000) and the model loads.
  spec.tamper = [](gguf::Writer& w) { w.remove("llama.rope.freq_base"); };
  CHECK(load_error(spec) == "");
}

TEST_CASE("a metadata error gives the byte offset of the key's value") {
  TinyModelSpec spec;
  spec.tamper = [](gguf::Writer& w) { w.set("llama.block_count", std::uint32_t{0}); };
  const std::filesystem::path path = temporary_model_path("offset");
  REQUIRE(write_tiny_model(path, spec) == "");
  auto loaded = compute::load_model(path);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  const std::string& error = std::get<std::string>(loaded);
  const std::string marker = "'llama.block_count' (byte ";
  const auto at = error.find(marker);
  REQUIRE(at != std::string::npos);
  const std::uint64_t offset = std::stoull(error.substr(at + marker.size()));
  // There: the value's type tag (4, u32) and then the value 0.
  const std::string expected("\x04\0\0\0\0\0\0\0", 8);
  CHECK(bytes_at(path, offset, 8) == expected);
  std::filesystem::remove(path);
}

TEST_CASE("an embedding narrower than the head count is refused for that, not for the rope size") {
  TinyModelSpec spec;
  spec.tamper = [](gguf::Writer& w) { w.set("llama.embedding_length", std::uint32_t{3}); };
  const std::string error = load_error(spec);
  CHECK(error.find("'llama.embedding_length' (byte ") != std::string::npos);
  CHECK(error.find(") is 3 but metadata key 'llama.attention.head_count' (byte ") != std::string::npos);
  CHECK(error.find(") is 4: ") != std::string::npos);
  CHECK(error.find("the head size, embedding_length / head_count, would be 0") != std::string::npos);
  CHECK(error.find("rope.dimension_count") == std::string::npos);
}

TEST_CASE("a missing tensor or one with the wrong dims is named in the error") {
  TinyModelSpec spec;
  spec.omit_tensors = {"blk.1.ffn_up.weight"};
  CHECK(load_error(spec).find("tensor 'blk.1.ffn_up.weight' is missing") != std::string::npos);

  spec.omit_tensors = {"blk.0.attn_k.weight"};
  spec.tamper = [](gguf::Writer& w) {
    w.add_tensor("blk.0.attn_k.weight", {64, 16}, gguf::TensorType::f32,
                 gguf::quantize(gguf::TensorType::f32, std::vector<float>(64 * 16, 0.0f)));
  };
  CHECK(load_error(spec).find("tensor 'blk.0.attn_k.weight' has dims [64, 16], expected [64, 32]") !=
        std::string::npos);

}

TEST_CASE("a file that is not GGUF is reported with its path and byte offset") {
  const std::filesystem::path path = temporary_model_path("notgguf");
  { std::FILE* f = std::fopen(path.c_str(), "wb"); std::fputs("not a model", f); std::fclose(f); }
  auto loaded = compute::load_model(path);
  std::filesystem::remove(path);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  const std::string& error = std::get<std::string>(loaded);
  CHECK(error.find(path.string()) == 0);
  CHECK(error.find("byte") != std::string::npos);
}

TEST_CASE("a norm weight or bias holding NaN or an infinity is refused at load, naming the tensor and index") {
  struct Case {
    const char* architecture;
    const char* tensor;
    int n;
    float bad;
    const char* expected;
  };
  const Case cases[] = {
      {"llama", "output_norm.weight", 64, std::nanf(""), "tensor 'output_norm.weight' holds NaN at index 5"},
      {"llama", "output_norm.weight", 64, INFINITY, "tensor 'output_norm.weight' holds an infinity at index 5"},
      {"llama", "blk.1.attn_norm.weight", 64, -INFINITY, "tensor 'blk.1.attn_norm.weight' holds an infinity at index 5"},
      {"llama", "blk.0.ffn_norm.weight", 64, std::nanf(""), "tensor 'blk.0.ffn_norm.weight' holds NaN at index 5"},
      {"qwen2", "blk.0.attn_k.bias", 32, std::nanf(""), "tensor 'blk.0.attn_k.bias' holds NaN at index 5"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.tensor);
    CAPTURE(c.bad);
    TinyModelSpec spec;
    spec.architecture = c.architecture;
    spec.omit_tensors = {c.tensor};
    spec.tamper = [&c](gguf::Writer& w) {
      std::vector<float> values(static_cast<std::size_t>(c.n), 1.0f);
      values[5] = c.bad;
      w.add_tensor(c.tensor, {static_cast<std::uint64_t>(c.n)}, gguf::TensorType::f32,
                   gguf::quantize(gguf::TensorType::f32, values));
    };
    const std::string error = load_error(spec);
    CHECK(error.find(std::string(c.expected) + "; the model file is corrupt") != std::string::npos);
  }
}


namespace {

// Loads the model `spec` describes and returns the load error with the data offset of `tensor`
// (as the file records it) put in place of "@" in the expected text, and that text.
std::pair<std::string, std::string> error_and_expected(const TinyModelSpec& spec, const std::string& tensor,
                                                       const std::string& expected_with_at) {
  const std::filesystem::path path = temporary_model_path("unused");
  REQUIRE(write_tiny_model(path, spec) == "");
  auto opened = gguf::File::open(path);
  REQUIRE(std::holds_alternative<gguf::File>(opened));
  const gguf::TensorInfo* info = std::get<gguf::File>(opened).tensor(tensor);
  REQUIRE(info != nullptr);
  std::string expected = expected_with_at;
  expected.replace(expected.find('@'), 1, std::to_string(info->offset_in_file));
  auto loaded = compute::load_model(path);
  std::filesystem::remove(path);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  return {std::get<std::string>(loaded), expected};
}

}  // namespace

TEST_CASE("a tensor the model would never use is refused, naming it, its byte offset and why") {
  TinyModelSpec spec;  // two layers
  SUBCASE("a layer beyond block_count") {
    spec.tamper = [](gguf::Writer& w) { w.set("llama.block_count", std::uint32_t{1}); };
    auto [error, expected] = error_and_expected(
        spec, "blk.1.attn_norm.weight",
        "tensor 'blk.1.attn_norm.weight' (data at byte @) is not used by a 1-layer llama model (metadata key "
        "'llama.block_count' (byte ");
    CHECK_MESSAGE(error.find(expected) != std::string::npos, error);
  }
  SUBCASE("attention biases in a llama model (a qwen2 file relabelled)") {
    spec.tamper = [](gguf::Writer& w) {
      w.add_tensor("blk.0.attn_q.bias", {64}, gguf::TensorType::f32,
                   gguf::quantize(gguf::TensorType::f32, std::vector<float>(64, 0.0f)));
    };
    auto [error, expected] = error_and_expected(
        spec, "blk.0.attn_q.bias",
        "tensor 'blk.0.attn_q.bias' (data at byte @) is not used by a llama model (metadata key "
        "'general.architecture' (byte ");
    CHECK_MESSAGE(error.find(expected) != std::string::npos, error);
  }
  SUBCASE("a tensor of no architecture the engine knows") {
    spec.tamper = [](gguf::Writer& w) {
      w.add_tensor("vision.patch_embd.weight", {64}, gguf::TensorType::f32,
                   gguf::quantize(gguf::TensorType::f32, std::vector<float>(64, 0.0f)));
    };
    auto [error, expected] = error_and_expected(spec, "vision.patch_embd.weight",
                                                "tensor 'vision.patch_embd.weight' (data at byte @) is not used");
    CHECK_MESSAGE(error.find(expected) != std::string::npos, error);
  }
}

TEST_CASE("every tensor of the test models is used: tied embeddings, rope_freqs, qwen2 biases") {
  TinyModelSpec spec;
  spec.tied_embeddings = true;
  spec.rope_freqs = true;
  CHECK(load_error(spec) == "");
  TinyModelSpec qwen;
  qwen.architecture = "qwen2";
  CHECK(load_error(qwen) == "");
}

TEST_CASE("a vocab_size that disagrees with the embedding's rows is refused with both values and its byte") {
  for (const std::string architecture : {"llama", "qwen2"}) {
    CAPTURE(architecture);
    TinyModelSpec spec;
    spec.architecture = architecture;
    const std::string key = architecture + ".vocab_size";
    spec.tamper = [&](gguf::Writer& w) { w.set(key, static_cast<std::uint32_t>(kTinyVocab)); };
    CHECK(load_error(spec) == "");  // what llama.cpp's converter writes: the rows, padding included
    spec.tamper = [&](gguf::Writer& w) { w.set(key, static_cast<std::uint32_t>(kTinyVocab + 5)); };
    const std::string error = load_error(spec);
    CHECK_MESSAGE(error.find(": metadata key '" + key + "' (byte ") != std::string::npos, error);
    CHECK_MESSAGE(error.find(") is " + std::to_string(kTinyVocab + 5) + " but tensor 'token_embd.weight' (data at byte ") !=
                      std::string::npos,
                  error);
    CHECK_MESSAGE(error.find(") has " + std::to_string(kTinyVocab) + " rows") != std::string::npos, error);
    spec.tamper = [&](gguf::Writer& w) { w.set(key, std::string("many")); };
    CHECK(load_error(spec).find(") is string; expected an integer") != std::string::npos);
  }
}

}  // namespace sovereign::accel::test
