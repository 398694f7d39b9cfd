// The CUDA forward pass against the CPU one and the double-precision reference, wherever a GPU is
// present; elsewhere the whole program reports itself skipped (exit status 77) and says why.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "accel/compute/backend_factory.hpp"
#include "accel/compute/devices.hpp"
#include "accel/compute/kv_pages.hpp"
#include "accel/compute/model_loader.hpp"
#include "reference_forward.hpp"
#include "tiny_model.hpp"

namespace sovereign::accel::test {
namespace {

using compute::KvPageTable;
using compute::StepToken;

// The BackendPlan choices a test case makes (the rest of the plan is sized by run()).
struct Choices {
  bool stream_every_gemv = false;
  bool keep_expanded_weights = true;
  bool gemv_float_input = false;
};
constexpr Choices kStreamEveryGemv{true, true, false};
constexpr Choices kExpandEveryStep{false, false, false};
constexpr Choices kFloatGemvInput{false, true, true};

// Writes a tiny model of `spec` to a temporary file and loads it (the file is removed again).
std::unique_ptr<compute::LoadedModel> load_tiny_model(const TinyModelSpec& spec, const char* name) {
  const std::filesystem::path path = temporary_model_path(name);
  REQUIRE(write_tiny_model(path, spec) == "");
  auto loaded = compute::load_model(path);
  std::filesystem::remove(path);
  REQUIRE(std::holds_alternative<std::unique_ptr<compute::LoadedModel>>(loaded));
  return std::move(std::get<std::unique_ptr<compute::LoadedModel>>(loaded));
}

// Runs `prompt` through a backend: `prefill` tokens in the first step, then one per step
// (the decode path and its captured graph), returning every position's logits.
// With prefill_logits false the first step asks for no logits at all (a prompt chunk that does not
// end the prompt), and only later positions are returned.
std::vector<std::vector<float>> run(const std::string& device, const compute::LoadedModel& m,
                                    const std::vector<std::int32_t>& prompt, std::size_t prefill,
                                    bool prefill_logits = true, Choices choices = {}) {
  compute::BackendPlan plan;
  plan.stream_every_gemv = choices.stream_every_gemv;
  plan.keep_expanded_weights = choices.keep_expanded_weights;
  plan.gemv_float_input = choices.gemv_float_input;
  plan.kv_pages = 16;
  plan.max_step_tokens = 128;
  plan.max_logit_rows = 128;
  plan.threads = 2;
  auto made = compute::make_backend(device, m.config, m.weights, plan);
  if (auto* error = std::get_if<std::string>(&made)) FAIL(*error);
  auto backend = std::move(std::get<std::unique_ptr<compute::ForwardBackend>>(made));
  KvPageTable pages(plan.kv_pages, 1);
  REQUIRE(pages.reserve(0, plan.kv_pages));
  std::vector<std::vector<float>> out;
  std::size_t done = 0;
  const std::size_t vocab = static_cast<std::size_t>(m.config.n_vocab);
  while (done < prompt.size()) {
    const std::size_t step = done == 0 ? prefill : 1;
    std::vector<StepToken> tokens;
    const bool wants = done > 0 || prefill_logits;
    for (std::size_t i = done; i < done + step; ++i) tokens.push_back({prompt[i], static_cast<std::int32_t>(i), 0, wants});
    pages.grow(0, done + step);
    std::vector<std::span<const std::int32_t>> tables{pages.pages(0)};
    std::vector<float> logits(step * vocab);
    backend->forward(tokens, tables, logits.data());
    if (wants)
      for (std::size_t i = 0; i < step; ++i) out.emplace_back(logits.begin() + i * vocab, logits.begin() + (i + 1) * vocab);
    done += step;
  }
  return out;
}

void check_agreement(const TinyModelSpec& spec, std::size_t prompt_length, std::size_t prefill, double tolerance,
                     Choices choices = {}) {
  const auto model = load_tiny_model(spec, "gpu");
  const compute::LoadedModel& m = *model;
  std::vector<std::int32_t> prompt;
  for (std::size_t i = 0; i < prompt_length; ++i) prompt.push_back(static_cast<std::int32_t>((i * 37 + 1) % kTinyVocab));
  const auto gpu = run("cuda:0", m, prompt, prefill, true, choices);
  const auto cpu = run("cpu", m, prompt, prefill);
  const auto reference = reference_logits(m.file, prompt);
  for (std::size_t t = 0; t < prompt.size(); ++t) {
    CAPTURE(t);
    CHECK(relative_error(gpu[t], reference[t]) < tolerance);
    std::vector<double> cpu_as_double(cpu[t].begin(), cpu[t].end());
    CHECK(relative_error(gpu[t], cpu_as_double) < tolerance);
  }
}

// A tiny model of `type`; K-quant rows must be whole 256-element super-blocks.
TinyModelSpec spec_of(gguf::TensorType type) {
  TinyModelSpec spec;
  spec.type = type;
  if (type == gguf::TensorType::q4_k || type == gguf::TensorType::q6_k) {
    spec.n_embd = 256;
    spec.n_ff = 256;
  }
  return spec;
}

}  // namespace

TEST_CASE("decode-sized steps on the GPU (own kernels, graph replay) agree with CPU and reference") {
  for (gguf::TensorType type : {gguf::TensorType::f32, gguf::TensorType::f16, gguf::TensorType::bf16,
                                gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    check_agreement(spec_of(type), 24, 5, type == gguf::TensorType::f32 ? 1e-4 : 1e-2);
  }
}

TEST_CASE("the streaming single-token GEMV agrees with CPU and reference for every weight type") {
  for (gguf::TensorType type : {gguf::TensorType::f32, gguf::TensorType::f16, gguf::TensorType::bf16,
                                gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    check_agreement(spec_of(type), 24, 1, type == gguf::TensorType::f32 ? 1e-4 : 1e-2, kStreamEveryGemv);
  }
}

// Decode steps over quantized weights take the input coded in 16-bit integers by default; the float
// input stays available (BackendPlan::gemv_float_input) and must agree as well.
TEST_CASE("single-token GEMVs of quantized weights against the float input agree too") {
  for (gguf::TensorType type : {gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    check_agreement(spec_of(type), 24, 1, 1e-2, kFloatGemvInput);
  }
}

// The coded input against the float input on the same GPU: what coding the input costs, on rows of
// 512 and 1024 columns. 8-bit codes moved these logits by 1.4-1.5% (every quantized type).
TEST_CASE("the 16-bit coded GEMV input moves the logits by about 1e-4") {
  for (gguf::TensorType type : {gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    TinyModelSpec spec = spec_of(type);
    spec.n_embd = 512;
    spec.n_ff = 1024;
    const auto model = load_tiny_model(spec, "gpu-coded");
    const compute::LoadedModel& m = *model;
    std::vector<std::int32_t> prompt;
    for (std::int32_t i = 0; i < 16; ++i) prompt.push_back((i * 29 + 5) % kTinyVocab);
    const auto coded = run("cuda:0", m, prompt, 1);
    const auto floats = run("cuda:0", m, prompt, 1, true, kFloatGemvInput);
    const auto reference = reference_logits(m.file, prompt);
    double worst = 0.0;
    for (std::size_t t = 0; t < prompt.size(); ++t) {
      CAPTURE(t);
      std::vector<double> float_as_double(floats[t].begin(), floats[t].end());
      const double moved = relative_error(coded[t], float_as_double);
      worst = std::max(worst, moved);
      CHECK(moved < 1e-3);
      CHECK(relative_error(coded[t], reference[t]) < 1e-2);
    }
    MESSAGE("type " << static_cast<int>(type) << ": coded input moves the logits by at most " << worst);
  }
}

// A row of 24,576 columns codes into 55 KiB of shared memory, past the 48 KiB a launch gets unless
// the kernel opts in.
TEST_CASE("single-token GEMVs whose coded input needs more than 48 KiB of shared memory agree") {
  TinyModelSpec spec = spec_of(gguf::TensorType::q8_0);
  spec.n_ff = 24576;
  check_agreement(spec, 6, 1, 1e-2);
}

TEST_CASE("shapes the 16-byte loads do not fit take the element-wise GEMV and still agree") {
  TinyModelSpec spec;
  spec.type = gguf::TensorType::f16;
  spec.n_embd = 44;  // 44 and 52 f16 columns are not whole 16-byte loads
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  spec.n_ff = 52;
  check_agreement(spec, 12, 3, 1e-2);
}

// Several sequences at different positions decoding in one step, as the scheduler batches them:
// the fused GEMV (coded input) for up to 3 or 4 tokens, cuBLAS GEMMs beyond, each a captured graph.
TEST_CASE("batched decode steps agree with the CPU") {
  for (gguf::TensorType type : {gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                gguf::TensorType::q6_k}) {
  CAPTURE(static_cast<int>(type));
  const auto model = load_tiny_model(spec_of(type), "gpu-batch");
  const compute::LoadedModel& m = *model;
  const std::size_t vocab = static_cast<std::size_t>(m.config.n_vocab);
  for (int slots : {2, 3, 4, 6, 12}) {
    CAPTURE(slots);
    compute::BackendPlan plan;
    plan.kv_pages = 2 * static_cast<std::size_t>(slots);
    plan.max_step_tokens = 16;
    plan.max_logit_rows = 16;
    plan.threads = 2;
    std::vector<std::vector<float>> results;
    for (const char* device : {"cuda:0", "cpu"}) {
      auto made = compute::make_backend(device, m.config, m.weights, plan);
      if (auto* error = std::get_if<std::string>(&made)) FAIL(*error);
      auto backend = std::move(std::get<std::unique_ptr<compute::ForwardBackend>>(made));
      KvPageTable pages(plan.kv_pages, static_cast<std::size_t>(slots));
      std::vector<std::span<const std::int32_t>> tables;
      for (int s = 0; s < slots; ++s) REQUIRE(pages.reserve(static_cast<std::size_t>(s), 2));
      // Slot s holds s % 5 + 1 prompt tokens, each slot prefilled on its own.
      for (int s = 0; s < slots; ++s) {
        std::vector<StepToken> prompt;
        for (int i = 0; i <= s % 5; ++i) prompt.push_back({(s * 13 + i * 7 + 1) % kTinyVocab, i, s, false});
        pages.grow(static_cast<std::size_t>(s), prompt.size());
        std::vector<std::span<const std::int32_t>> all;
        for (int t = 0; t < slots; ++t) all.push_back(pages.pages(static_cast<std::size_t>(t)));
        std::vector<float> none;
        backend->forward(prompt, all, none.data());
      }
      std::vector<StepToken> step;
      for (int s = 0; s < slots; ++s) {
        step.push_back({(s * 5 + 2) % kTinyVocab, s % 5 + 1, s, true});
        pages.grow(static_cast<std::size_t>(s), static_cast<std::size_t>(s % 5 + 2));
      }
      for (int t = 0; t < slots; ++t) tables.push_back(pages.pages(static_cast<std::size_t>(t)));
      std::vector<float> logits(static_cast<std::size_t>(slots) * vocab);
      backend->forward(step, tables, logits.data());  // captures the graph
      backend->forward(step, tables, logits.data());  // replays it (same positions: same KV writes)
      results.push_back(logits);
    }
    for (int s = 0; s < slots; ++s) {
      CAPTURE(s);
      const std::vector<float> gpu(results[0].begin() + s * vocab, results[0].begin() + (s + 1) * vocab);
      const std::vector<double> cpu(results[1].begin() + s * vocab, results[1].begin() + (s + 1) * vocab);
      CHECK(relative_error(gpu, cpu) < 2e-2);
    }
  }
  }
}

TEST_CASE("qwen2 and llama 3.1 features agree on the GPU") {
  TinyModelSpec qwen;
  qwen.architecture = "qwen2";
  check_agreement(qwen, 20, 4, 1e-4);
  TinyModelSpec llama31;
  llama31.tied_embeddings = true;
  llama31.rope_freqs = true;
  check_agreement(llama31, 20, 4, 1e-4);
}

TEST_CASE("prefill-sized steps through cuBLAS agree within 16-bit activation precision") {
  for (gguf::TensorType type : {gguf::TensorType::f32, gguf::TensorType::bf16, gguf::TensorType::q8_0,
                                gguf::TensorType::q4_k, gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    check_agreement(spec_of(type), 100, 96, type == gguf::TensorType::f32 ? 1e-4 : 2e-2);
  }
}

TEST_CASE("prefill-sized steps agree when quantized weights are expanded at every step, not kept") {
  for (gguf::TensorType type : {gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    check_agreement(spec_of(type), 40, 36, 2e-2, kExpandEveryStep);
  }
}

TEST_CASE("a prompt chunk that wants no logits is followed by correct decode steps on the GPU") {
  const auto model = load_tiny_model({}, "gpu-chunk");
  const compute::LoadedModel& m = *model;
  std::vector<std::int32_t> prompt;
  for (std::int32_t i = 0; i < 12; ++i) prompt.push_back((i * 11 + 3) % kTinyVocab);
  const auto gpu = run("cuda:0", m, prompt, 7, false);
  const auto reference = reference_logits(m.file, prompt);
  REQUIRE(gpu.size() == 5);
  for (std::size_t t = 0; t < gpu.size(); ++t) CHECK(relative_error(gpu[t], reference[t + 7]) < 1e-4);
}

TEST_CASE("on-GPU sampling: greedy is the argmax, and stratified draws follow the softmax, top_k and top_p") {
  const auto model = load_tiny_model({}, "gpu-sampling");
  const compute::LoadedModel& m = *model;
  constexpr int kRows = 64;
  compute::BackendPlan plan;
  plan.kv_pages = kRows;
  plan.max_step_tokens = kRows;
  plan.max_logit_rows = kRows;
  auto gpu = std::move(std::get<std::unique_ptr<compute::ForwardBackend>>(compute::make_backend("cuda:0", m.config, m.weights, plan)));
  auto cpu = std::move(std::get<std::unique_ptr<compute::ForwardBackend>>(compute::make_backend("cpu", m.config, m.weights, plan)));
  REQUIRE(gpu->samples_on_device());
  KvPageTable pages(plan.kv_pages, kRows);
  std::vector<std::span<const std::int32_t>> tables;
  for (std::size_t s = 0; s < kRows; ++s) {
    REQUIRE(pages.reserve(s, 1));
    pages.grow(s, 1);
    tables.push_back(pages.pages(s));
  }
  // Every row is the same one-token sequence, so all rows share one distribution.
  std::vector<StepToken> step;
  for (int s = 0; s < kRows; ++s) step.push_back({72, 0, s, true});
  const std::size_t vocab = static_cast<std::size_t>(m.config.n_vocab);
  std::vector<float> logits(kRows * vocab);
  cpu->forward(step, tables, logits.data());
  std::vector<double> p(vocab);
  const double top = *std::max_element(logits.begin(), logits.begin() + vocab);
  double total = 0;
  for (std::size_t i = 0; i < vocab; ++i) total += p[i] = std::exp(logits[i] - top);
  for (double& v : p) v /= total;
  const std::size_t argmax = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());

  const auto draw = [&](float temperature, int top_k, float top_p) {
    std::vector<compute::RowSampling> rows;
    for (int r = 0; r < kRows; ++r) rows.push_back({temperature, top_k, top_p, (r + 0.5f) / kRows});
    std::vector<std::int32_t> next(kRows);
    gpu->forward_and_sample(step, tables, rows, next.data());
    return next;
  };
  for (std::int32_t t : draw(0.0f, 0, 1.0f)) CHECK(t == static_cast<std::int32_t>(argmax));
  for (std::int32_t t : draw(1.0f, 0, 1e-6f)) CHECK(t == static_cast<std::int32_t>(argmax));

  std::vector<int> counts(vocab, 0);
  for (std::int32_t t : draw(1.0f, 0, 1.0f)) ++counts[static_cast<std::size_t>(t)];
  for (std::size_t i = 0; i < vocab; ++i) CHECK(std::abs(counts[i] - kRows * p[i]) <= 2.0);

  std::vector<std::size_t> order(vocab);
  for (std::size_t i = 0; i < vocab; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
  for (std::int32_t t : draw(1.0f, 3, 1.0f))
    CHECK(std::find(order.begin(), order.begin() + 3, static_cast<std::size_t>(t)) != order.begin() + 3);

  // top_p = 0.6: the most probable tokens until their mass reaches 0.6 (ties at the last one kept),
  // drawn in proportion to their renormalised probabilities.
  double kept_mass = 0;
  std::size_t kept = 0;
  while (kept_mass < 0.6) kept_mass += p[order[kept++]];
  while (kept < vocab && p[order[kept]] == p[order[kept - 1]]) kept_mass += p[order[kept++]];
  std::vector<int> nucleus_counts(vocab, 0);
  for (std::int32_t t : draw(1.0f, 0, 0.6f)) ++nucleus_counts[static_cast<std::size_t>(t)];
  for (std::size_t rank = 0; rank < vocab; ++rank) {
    const std::size_t i = order[rank];
    CAPTURE(rank);
    if (rank >= kept) CHECK(nucleus_counts[i] == 0);
    else CHECK(std::abs(nucleus_counts[i] - kRows * p[i] / kept_mass) <= 2.0);
  }
}

}  // namespace sovereign::accel::test

int main(int argc, char** argv) {
  const sovereign::accel::DeviceReport devices = sovereign::accel::list_devices();
  if (devices.gpus.empty()) {
    std::printf("SKIPPED: GPU-vs-CPU agreement needs a GPU: %s\n", devices.note.c_str());
    return 77;  // meson's "skipped" status
  }
  doctest::Context context(argc, argv);
  return context.run();
}
