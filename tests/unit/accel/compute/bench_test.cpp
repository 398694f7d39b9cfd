// The benchmark harness measures what it claims: positive rates per batch size, a roofline
// fraction from the weight bytes and the bandwidth measured in the same run.
#include <doctest/doctest.h>

#include <filesystem>
#include <tuple>

#include "accel/compute/bench.hpp"
#include "accel/compute/synthetic_model.hpp"
#include "tiny_model.hpp"

namespace sovereign::accel::test {

TEST_CASE("bench on a model file reports prefill, each decode batch and its roofline fraction") {
  const std::filesystem::path path = temporary_model_path("bench");
  TinyModelSpec spec;
  spec.type = gguf::TensorType::q8_0;
  REQUIRE(write_tiny_model(path, spec) == "");
  compute::BenchOptions options;
  options.model_file = path;
  options.threads = 2;
  options.prefill_tokens = 8;
  options.batches = {1, 3};
  options.decode_steps = 2;
  for (auto [temperature, top_p, top_k] : {std::tuple{-1.0f, 1.0f, 0}, std::tuple{0.7f, 0.0f, 0},
                                           std::tuple{0.7f, 1.5f, 0}, std::tuple{0.7f, 0.9f, -1}}) {
    compute::BenchOptions bad = options;
    bad.temperature = temperature;
    bad.top_p = top_p;
    bad.top_k = top_k;
    auto refused = compute::run_bench(bad);
    REQUIRE(std::holds_alternative<std::string>(refused));
    CHECK(std::get<std::string>(refused) == "sampling needs 0 <= temperature <= 100, 0 < top_p <= 1 and top_k >= 0");
  }
  options.temperature = 0.7f;
  options.top_p = 0.9f;
  auto result = compute::run_bench(options);
  std::filesystem::remove(path);
  if (auto* error = std::get_if<std::string>(&result)) FAIL(*error);
  const compute::BenchReport& r = std::get<compute::BenchReport>(result);
  CHECK(r.model == "tiny-llama");
  CHECK(r.device.find("cpu") == 0);
  CHECK(r.bandwidth_bytes_per_second > 1e8);
  CHECK(r.prefill_tokens_per_second > 0);
  REQUIRE(r.decode.size() == 2);
  CHECK(r.decode[1].batch == 3);
  for (const compute::DecodeFigure& d : r.decode) {
    CHECK(d.tokens_per_second == doctest::Approx(d.batch / d.step_seconds));
    CHECK(d.roofline_fraction ==
          doctest::Approx(static_cast<double>(r.weight_bytes_per_token) / d.step_seconds / r.bandwidth_bytes_per_second));
  }
}

TEST_CASE("synthetic shapes bind like a real file, and unknown shapes or types are refused by name") {
  auto made = compute::make_synthetic_model("smollm2-135m", gguf::TensorType::q4_0);
  REQUIRE(std::holds_alternative<std::unique_ptr<compute::SyntheticModel>>(made));
  const auto& model = *std::get<std::unique_ptr<compute::SyntheticModel>>(made);
  CHECK(model.config.n_layers == 30);
  CHECK(model.config.tied_embeddings);
  // 135M parameters at 18 bytes per 32 weights, the embedding counted once as the tied output.
  CHECK(model.weights.bytes_per_token() > 60'000'000);
  CHECK(model.weights.bytes_per_token() < 80'000'000);

  auto unknown = compute::make_synthetic_model("gpt-5", gguf::TensorType::bf16);
  REQUIRE(std::holds_alternative<std::string>(unknown));
  CHECK(std::get<std::string>(unknown).find("unknown shape 'gpt-5'; known shapes: llama-3.2-1b") == 0);
  auto bad_type = compute::make_synthetic_model("llama-3.2-1b", static_cast<gguf::TensorType>(3));  // ggml's q4_1
  REQUIRE(std::holds_alternative<std::string>(bad_type));
  CHECK(std::get<std::string>(bad_type) == "--type must be f32, f16, bf16, q8_0, q4_0, q4_k or q6_k");
  // K-quant shapes: 256-element super-blocks, so only shapes whose rows are whole blocks bind.
  auto k_quant = compute::make_synthetic_model("llama-3.2-1b", gguf::TensorType::q4_k);
  CHECK(std::holds_alternative<std::unique_ptr<compute::SyntheticModel>>(k_quant));
  auto misaligned = compute::make_synthetic_model("smollm2-135m", gguf::TensorType::q6_k);
  REQUIRE(std::holds_alternative<std::string>(misaligned));
  CHECK(std::get<std::string>(misaligned) ==
        "tensor 'token_embd.weight' row length 576 is not a multiple of the q6_k block size");
}

}  // namespace sovereign::accel::test
