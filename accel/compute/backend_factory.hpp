// Creates the forward backend for a device string ("auto", "cpu", "cuda:N").
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "accel/compute/forward_backend.hpp"
#include "accel/compute/model_config.hpp"
#include "accel/compute/model_weights.hpp"

namespace sovereign::accel::compute {

// Sizes fixed at load: everything a backend allocates follows from these.
struct BackendPlan {
  std::size_t kv_pages = 0;
  std::size_t max_step_tokens = 512;
  std::size_t max_logit_rows = 16;
  int threads = 0;
  // CUDA: every single-token GEMV through the streaming kernel, which otherwise serves only matrices
  // whose one-shot grid would end in a thin second wave (large models). Tests set it so that small
  // models exercise that kernel too.
  bool stream_every_gemv = false;
  // CUDA: GEMVs (decode steps of 1 to 4 tokens) of quantized weights take the float input (a
  // conversion and a multiply-add per weight) instead of the input coded in 16-bit integers per 32
  // values (integer dot products; the default, faster). For tests and `accel bench --gemv-input float`.
  bool gemv_float_input = false;
  // CUDA: keep quantized matrices also expanded to F16 for cuBLAS (batched steps) where the GPU has
  // room; false expands them again at every such step (what a full GPU does; tests cover both).
  bool keep_expanded_weights = true;
};

// The device a device string names, resolved against the devices this process can use.
struct DeviceChoice {
  bool cuda = false;
  int gpu_index = 0;  // when cuda
};

// "auto" (the first GPU, else the CPU), "cpu", "cuda" (= cuda:0) or "cuda:N"; the error says why the
// device cannot be used (malformed, no CUDA in this build, no such GPU). Allocates nothing, so
// `config check` can ask it too.
[[nodiscard]] std::variant<DeviceChoice, std::string> choose_device(const std::string& device);

// The error says what would fix it; where that is a plan setting the user chose (`threads`), its name
// goes to `option_at_fault`.
[[nodiscard]] std::variant<std::unique_ptr<ForwardBackend>, std::string> make_backend(
    const std::string& device, const ModelConfig& config, const ModelWeights& weights, const BackendPlan& plan,
    std::string* option_at_fault = nullptr);

// Implemented by the CUDA build (cuda/cuda_backend.cpp) or by no_cuda.cpp.
[[nodiscard]] std::variant<std::unique_ptr<ForwardBackend>, std::string> make_cuda_backend(
    int device, const ModelConfig& config, const ModelWeights& weights, const BackendPlan& plan);

}  // namespace sovereign::accel::compute
