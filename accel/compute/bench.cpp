#include "accel/compute/bench.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

#include "accel/compute/backend_factory.hpp"
#include "accel/compute/kv_pages.hpp"
#include "accel/compute/model_loader.hpp"
#include "accel/compute/synthetic_model.hpp"
#include "accel/compute/thread_pool.hpp"

namespace sovereign::accel::compute {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Keeps the summed value observable so the reads are not optimised away.
std::atomic<std::uint64_t> g_bandwidth_sink{0};

}  // namespace

double measure_host_read_bandwidth(int threads) {
  constexpr std::size_t kBytes = std::size_t{512} << 20;  // well past any last-level cache
  constexpr std::size_t kWords = kBytes / sizeof(std::uint64_t);
  constexpr std::size_t kSliceWords = (std::size_t{1} << 20) / sizeof(std::uint64_t);
  constexpr int kPasses = 4;
  std::vector<std::uint64_t> buffer(kWords, 1);
  ThreadPool pool(threads);
  double best = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    std::atomic<std::uint64_t> total{0};
    const Clock::time_point start = Clock::now();
    pool.parallel_for(kWords / kSliceWords, [&](std::size_t first, std::size_t last) {
      // Four independent sums, so the loop is bound by the loads, not by one add chain.
      std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const std::uint64_t* p = buffer.data() + first * kSliceWords;
      const std::uint64_t* end = buffer.data() + last * kSliceWords;
      for (; p < end; p += 4) {
        s0 += p[0];
        s1 += p[1];
        s2 += p[2];
        s3 += p[3];
      }
      total.fetch_add(s0 + s1 + s2 + s3, std::memory_order_relaxed);
    });
    best = std::max(best, static_cast<double>(kBytes) / seconds_since(start));
    g_bandwidth_sink.fetch_add(total.load(), std::memory_order_relaxed);
  }
  return best;
}

std::variant<BenchReport, std::string> run_bench(const BenchOptions& o) {
  std::unique_ptr<LoadedModel> file_model;
  std::unique_ptr<SyntheticModel> synthetic;
  const ModelConfig* config = nullptr;
  const ModelWeights* weights = nullptr;
  if (!o.model_file.empty()) {
    auto loaded = load_model(o.model_file);
    if (auto* error = std::get_if<std::string>(&loaded)) return *error;
    file_model = std::move(std::get<std::unique_ptr<LoadedModel>>(loaded));
    config = &file_model->config;
    weights = &file_model->weights;
  } else {
    auto made = make_synthetic_model(o.shape, o.type);
    if (auto* error = std::get_if<std::string>(&made)) return *error;
    synthetic = std::move(std::get<std::unique_ptr<SyntheticModel>>(made));
    config = &synthetic->config;
    weights = &synthetic->weights;
  }
  if (o.prefill_tokens < 1 || o.decode_steps < 1 || o.context_tokens < 0 || o.batches.empty())
    return std::string("prefill tokens, decode steps and batch sizes must be positive");
  if (!(o.temperature >= 0.0f && o.temperature <= 100.0f) || !(o.top_p > 0.0f && o.top_p <= 1.0f) || o.top_k < 0)
    return std::string("sampling needs 0 <= temperature <= 100, 0 < top_p <= 1 and top_k >= 0");

  const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  const std::size_t per_sequence =
      static_cast<std::size_t>(std::max(o.prefill_tokens, o.context_tokens + o.decode_steps + 1));
  BackendPlan plan;
  plan.kv_pages = KvPageTable::pages_for_tokens(per_sequence) * static_cast<std::size_t>(max_batch);
  plan.max_step_tokens = static_cast<std::size_t>(std::max(o.prefill_tokens, max_batch));
  plan.max_logit_rows = static_cast<std::size_t>(max_batch);
  plan.threads = o.threads;
  plan.gemv_float_input = o.gemv_float_input;
  auto made = make_backend(o.device, *config, *weights, plan);
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  std::unique_ptr<ForwardBackend> backend = std::move(std::get<std::unique_ptr<ForwardBackend>>(made));

  BenchReport report;
  report.model = config->name;
  report.device = backend->device_name();
  report.weight_bytes_per_token = weights->bytes_per_token();
  // Best of the measurements before and after the timed work: on a shared machine a preempted
  // pass measures the neighbours, and a low bandwidth would flatter the roofline fraction.
  const auto measure_bandwidth = [&] {
    const double device_bandwidth = backend->measure_memory_bandwidth();
    if (device_bandwidth > 0) {
      report.bandwidth_method = "device-to-device copy on the GPU, best pass";
      return device_bandwidth;
    }
    report.bandwidth_method = "multi-threaded read of 512 MiB, best pass";
    return measure_host_read_bandwidth(o.threads);
  };
  try {
    report.bandwidth_bytes_per_second = measure_bandwidth();
  } catch (const ThreadStartError& e) {
    // The CPU backend holds its threads while the measurement starts as many again.
    return std::string(e.what()) + " to measure the read bandwidth; lower --threads";
  }

  KvPageTable pages(plan.kv_pages, static_cast<std::size_t>(max_batch));
  for (int s = 0; s < max_batch; ++s) {
    if (!pages.reserve(static_cast<std::size_t>(s), KvPageTable::pages_for_tokens(per_sequence)))
      return std::string("internal: KV plan too small");
    pages.grow(static_cast<std::size_t>(s), per_sequence);
  }
  std::vector<std::span<const std::int32_t>> tables;
  for (int s = 0; s < max_batch; ++s) tables.push_back(pages.pages(static_cast<std::size_t>(s)));
  std::vector<float> logits(static_cast<std::size_t>(max_batch) * static_cast<std::size_t>(config->n_vocab));
  const auto token_at = [&](int i) { return static_cast<std::int32_t>((i * 7919) % config->n_vocab); };

  // Prefill: one sequence's prompt in one step, logits for its last token only.
  std::vector<StepToken> step;
  for (int i = 0; i < o.prefill_tokens; ++i) step.push_back({token_at(i), i, 0, i + 1 == o.prefill_tokens});
  backend->forward(step, tables, logits.data());  // warm-up: page faults, kernel selection
  double best_prefill = 0;
  for (int run = 0; run < 2; ++run) {
    const Clock::time_point start = Clock::now();
    backend->forward(step, tables, logits.data());
    const double seconds = seconds_since(start);
    best_prefill = best_prefill == 0 ? seconds : std::min(best_prefill, seconds);
  }
  report.prefill_tokens_per_second = o.prefill_tokens / best_prefill;

  // Decode measures what the engine runs: on a device that samples, token ids come back, not logits.
  std::vector<RowSampling> sampling(static_cast<std::size_t>(max_batch));
  for (std::size_t r = 0; r < sampling.size(); ++r)
    sampling[r] = {o.temperature, o.top_k, o.top_p, static_cast<float>(r % 16) / 16.0f + 1.0f / 32.0f};
  std::vector<std::int32_t> next(static_cast<std::size_t>(max_batch));
  for (int batch : o.batches) {
    const auto decode_step = [&](int position) {
      step.clear();
      for (int s = 0; s < batch; ++s) step.push_back({token_at(s + position), position, s, true});
      if (backend->samples_on_device()) {
        backend->forward_and_sample(step, tables, std::span(sampling).first(static_cast<std::size_t>(batch)), next.data());
      } else {
        backend->forward(step, tables, logits.data());
      }
    };
    decode_step(o.context_tokens);
    DecodeFigure f;
    f.batch = batch;
    for (int i = 1; i <= o.decode_steps; ++i) {
      const Clock::time_point start = Clock::now();
      decode_step(o.context_tokens + i);
      const double seconds = seconds_since(start);
      f.step_seconds = f.step_seconds == 0 ? seconds : std::min(f.step_seconds, seconds);
    }
    f.tokens_per_second = batch / f.step_seconds;
    report.decode.push_back(f);
  }
  report.bandwidth_bytes_per_second = std::max(report.bandwidth_bytes_per_second, measure_bandwidth());
  for (DecodeFigure& f : report.decode)
    f.roofline_fraction =
        static_cast<double>(report.weight_bytes_per_token) / f.step_seconds / report.bandwidth_bytes_per_second;
  return report;
}

}  // namespace sovereign::accel::compute
