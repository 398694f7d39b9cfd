// Throughput measurement of the forward pass (prefill and batched decode) against the machine's
// memory bandwidth measured in the same run: the roofline that decode speed is judged by.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "accel/gguf/tensor_type.hpp"

namespace sovereign::accel::compute {

struct BenchOptions {
  std::filesystem::path model_file;  // either a GGUF file ...
  std::string shape;                 // ... or a synthetic shape ("llama-3.2-1b")
  gguf::TensorType type = gguf::TensorType::bf16;  // weight type of a synthetic shape
  std::string device = "cpu";        // cpu | cuda:N | auto
  int threads = 0;
  int prefill_tokens = 128;
  std::vector<int> batches{1, 8, 64};
  int decode_steps = 4;      // timed steps per batch size, after one warm-up step; the best counts
  int context_tokens = 32;   // KV positions each decoding sequence already holds
  // How decode steps pick tokens, timed where the device samples (CUDA); greedy by default.
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  bool gemv_float_input = false;  // BackendPlan::gemv_float_input
};

struct DecodeFigure {
  int batch = 0;
  double tokens_per_second = 0;
  double step_seconds = 0;  // best of the timed steps
  double roofline_fraction = 0;  // (weight bytes / step time) / measured bandwidth
};

struct BenchReport {
  std::string model;
  std::string device;
  std::size_t weight_bytes_per_token = 0;
  double bandwidth_bytes_per_second = 0;
  std::string bandwidth_method;
  double prefill_tokens_per_second = 0;  // best of two timed runs
  std::vector<DecodeFigure> decode;
};

[[nodiscard]] std::variant<BenchReport, std::string> run_bench(const BenchOptions& options);

// Sustained host memory read bandwidth: `threads` threads summing a buffer far larger than the
// caches. Decode streams the weights once per step and writes next to nothing, so reading is the
// access it is judged against (a copy's figure, bytes read plus written, moved between 38 and 72
// GB/s from run to run on the same machine while a read held at about 40). Throws
// ThreadStartError when the threads cannot be started.
double measure_host_read_bandwidth(int threads);

}  // namespace sovereign::accel::compute
