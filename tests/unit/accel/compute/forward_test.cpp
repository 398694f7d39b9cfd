// The CPU forward pass against the double-precision reference, for every architecture feature
// and weight type, through prefill chunks, single-token decode and interleaved sequences.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "accel/compute/cpu_backend.hpp"
#include "accel/compute/cpu_dot.hpp"
#include "accel/compute/kv_pages.hpp"
#include "accel/compute/model_loader.hpp"
#include "reference_forward.hpp"
#include "tiny_model.hpp"

namespace sovereign::accel::test {
namespace {

using compute::CpuBackend;
using compute::CpuBackendOptions;
using compute::KvPageTable;
using compute::LoadedModel;
using compute::StepToken;

struct TinyModelFile {
  std::filesystem::path path;
  std::unique_ptr<LoadedModel> model;

  explicit TinyModelFile(const TinyModelSpec& spec) : path(temporary_model_path("forward")) {
    REQUIRE(write_tiny_model(path, spec) == "");
    auto loaded = compute::load_model(path);
    if (auto* error = std::get_if<std::string>(&loaded)) FAIL(*error);
    model = std::move(std::get<std::unique_ptr<LoadedModel>>(loaded));
  }
  ~TinyModelFile() { std::filesystem::remove(path); }
};

// Longer than any kernel set's quantized_fused_max_batch, so a prefill of all of it expands the rows.
const std::vector<std::int32_t> kPrompt{1, 72, 101, 108, 260, 111, 32, 259, 263, 100, 33, 40, 41, 42, 43, 44, 45, 46, 47, 48};

// Runs the prompt as one prefill chunk of `prefill` tokens, then one token per step, and returns
// the logits of every position.
std::vector<std::vector<float>> engine_logits(const LoadedModel& m, std::size_t prefill, int threads = 2) {
  CpuBackendOptions options;
  options.threads = threads;
  options.kv_pages = 8;
  options.max_step_tokens = 32;
  options.max_logit_rows = 32;
  CpuBackend backend(m.config, m.weights, options);
  KvPageTable pages(options.kv_pages, 1);
  REQUIRE(pages.reserve(0, 4));
  std::vector<std::vector<float>> out;
  std::size_t done = 0;
  while (done < kPrompt.size()) {
    const std::size_t step = done == 0 ? prefill : 1;
    std::vector<StepToken> tokens;
    for (std::size_t i = done; i < done + step; ++i)
      tokens.push_back({kPrompt[i], static_cast<std::int32_t>(i), 0, true});
    pages.grow(0, done + step);
    std::vector<std::span<const std::int32_t>> tables{pages.pages(0)};
    std::vector<float> logits(step * m.config.n_vocab);
    backend.forward(tokens, tables, logits.data());
    for (std::size_t i = 0; i < step; ++i)
      out.emplace_back(logits.begin() + i * m.config.n_vocab, logits.begin() + (i + 1) * m.config.n_vocab);
    done += step;
  }
  return out;
}

// Two runs of the prompt: all of it in one step (twenty inputs per row: rows expanded to f32 and
// applied to every input), and five positions in one step then one per step (rows read in their
// stored encoding; block-quantized rows meet quantized inputs there, held to quantized_tolerance
// where it is given).
void check_against_reference(const TinyModelSpec& spec, double tolerance, double quantized_tolerance = 0) {
  REQUIRE(kPrompt.size() > compute::row_dot_kernels().quantized_fused_max_batch);
  TinyModelFile file(spec);
  const auto expected = reference_logits(file.model->file, kPrompt);
  for (const std::size_t prefill : {kPrompt.size(), std::size_t{5}}) {
    CAPTURE(prefill);
    const auto actual = engine_logits(*file.model, prefill);
    REQUIRE(actual.size() == expected.size());
    const double bound = prefill < kPrompt.size() && quantized_tolerance > 0 ? quantized_tolerance : tolerance;
    for (std::size_t t = 0; t < expected.size(); ++t) {
      CAPTURE(t);
      CHECK(relative_error(actual[t], expected[t]) < bound);
    }
  }
}

// Steps of a few inputs multiply block-quantized rows with the inputs quantized to 16 bits per
// 32-element block (quantized_input.hpp): about 1e-4 of the logits here, where one weight decoded
// wrongly moves them by 1e-2 or more.
constexpr double kQuantizedInputTolerance = 5e-4;

}  // namespace

TEST_CASE("llama f32 logits match the double-precision reference within 1e-4") {
  check_against_reference({}, 1e-4);
}

TEST_CASE("llama f16, bf16 and q8_0 logits match the reference within 1e-2") {
  for (gguf::TensorType type : {gguf::TensorType::f16, gguf::TensorType::bf16, gguf::TensorType::q8_0}) {
    CAPTURE(static_cast<int>(type));
    TinyModelSpec spec;
    spec.type = type;
    check_against_reference(spec, 1e-2);
  }
}

TEST_CASE("q4_0 weights are decoded exactly as the reference decodes them") {
  TinyModelSpec spec;
  spec.type = gguf::TensorType::q4_0;
  check_against_reference(spec, 1e-4, kQuantizedInputTolerance);
}

TEST_CASE("q4_k and q6_k weights are decoded exactly as the reference decodes them") {
  for (gguf::TensorType type : {gguf::TensorType::q4_k, gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    TinyModelSpec spec;
    spec.type = type;
    spec.n_embd = 256;
    spec.n_ff = 256;
    check_against_reference(spec, 1e-4, kQuantizedInputTolerance);
  }
}

TEST_CASE("qwen2 q/k/v biases and NEOX rotary embedding match the reference") {
  TinyModelSpec spec;
  spec.architecture = "qwen2";
  check_against_reference(spec, 1e-4);
  spec.type = gguf::TensorType::bf16;
  check_against_reference(spec, 1e-2);
}

TEST_CASE("tied embeddings, llama 3.1 rope_freqs and linear RoPE scaling match the reference") {
  TinyModelSpec spec;
  spec.tied_embeddings = true;
  spec.rope_freqs = true;
  check_against_reference(spec, 1e-4);
  spec.rope_freqs = false;
  spec.rope_linear_factor = 4.0f;
  spec.n_kv_heads = 1;
  check_against_reference(spec, 1e-4);
}

TEST_CASE("prefill chunking and thread count do not change the logits") {
  TinyModelFile file(TinyModelSpec{});
  const auto whole = engine_logits(*file.model, kPrompt.size(), 1);
  const auto stepwise = engine_logits(*file.model, 1, 3);
  for (std::size_t t = 0; t < whole.size(); ++t)
    for (std::size_t i = 0; i < whole[t].size(); ++i) CHECK(whole[t][i] == doctest::Approx(stepwise[t][i]).epsilon(1e-4));
}

TEST_CASE("two sequences batched in one step with scattered KV pages match their solo runs") {
  TinyModelSpec spec;
  spec.type = gguf::TensorType::q8_0;
  TinyModelFile file(spec);
  const LoadedModel& m = *file.model;
  const std::vector<std::int32_t> other{1, 264, 265, 266, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};
  const auto expected_first = reference_logits(m.file, kPrompt);
  const auto expected_other = reference_logits(m.file, other);

  CpuBackendOptions options;
  options.threads = 2;
  options.kv_pages = 6;
  CpuBackend backend(m.config, m.weights, options);
  KvPageTable pages(options.kv_pages, 2);
  REQUIRE(pages.reserve(0, 2));
  REQUIRE(pages.reserve(1, 2));
  // The second sequence's pages start after the first's, so its page table is not the identity.
  std::size_t a = 0, b = 0;
  while (a < kPrompt.size() || b < other.size()) {
    std::vector<StepToken> tokens;
    const std::size_t a_step = std::min<std::size_t>(a == 0 ? 3 : 1, kPrompt.size() - a);
    const std::size_t b_step = std::min<std::size_t>(b == 0 ? 7 : 2, other.size() - b);
    for (std::size_t i = 0; i < a_step; ++i) tokens.push_back({kPrompt[a + i], static_cast<std::int32_t>(a + i), 0, i + 1 == a_step});
    for (std::size_t i = 0; i < b_step; ++i) tokens.push_back({other[b + i], static_cast<std::int32_t>(b + i), 1, i + 1 == b_step});
    pages.grow(0, a + a_step);
    pages.grow(1, b + b_step);
    std::vector<std::span<const std::int32_t>> tables{pages.pages(0), pages.pages(1)};
    std::vector<float> logits(2 * m.config.n_vocab);
    backend.forward(tokens, tables, logits.data());
    std::size_t row = 0;
    if (a_step > 0) {
      std::vector<float> got(logits.begin(), logits.begin() + m.config.n_vocab);
      CHECK(relative_error(got, expected_first[a + a_step - 1]) < 1e-2);
      ++row;
    }
    if (b_step > 0) {
      std::vector<float> got(logits.begin() + row * m.config.n_vocab, logits.begin() + (row + 1) * m.config.n_vocab);
      CHECK(relative_error(got, expected_other[b + b_step - 1]) < 1e-2);
    }
    a += a_step;
    b += b_step;
  }
}

}  // namespace sovereign::accel::test
