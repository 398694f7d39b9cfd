// The CUDA forward pass: weights uploaded once in their stored encoding, an f32 paged KV cache
// and activations allocated at load, fused dequantize-GEMV kernels for decode-sized steps (captured
// as CUDA graphs and replayed), cuBLAS GEMM for prefill-sized steps.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "accel/compute/backend_factory.hpp"
#include "accel/compute/cuda/kernels.cuh"
#include "accel/compute/devices.hpp"
#include "accel/compute/kv_pages.hpp"
#include "accel/compute/split_blocks.hpp"

namespace sovereign::accel {

DeviceReport list_devices() {
  DeviceReport report;
  report.cuda_built = true;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    report.note = std::string("the CUDA runtime found no usable GPU (") + cudaGetErrorString(status) + ")";
    return report;
  }
  if (count == 0) report.note = "the CUDA driver reports no GPUs";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, i) != cudaSuccess) continue;
    GpuDevice gpu;
    gpu.index = i;
    gpu.name = props.name;
    gpu.total_memory_bytes = props.totalGlobalMem;
    gpu.compute_major = props.major;
    gpu.compute_minor = props.minor;
    std::size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
      gpu.free_memory_bytes = free_bytes;
    report.gpus.push_back(std::move(gpu));
  }
  return report;
}

namespace compute {
namespace {

using cuda::DeviceMatrix;
using cuda::WeightKind;

static_assert(cuda::kPageTokens == kKvPageTokens, "device and host KV pages must agree");

WeightKind kind_of(gguf::TensorType type) {
  switch (type) {
    case gguf::TensorType::f16: return WeightKind::f16;
    case gguf::TensorType::bf16: return WeightKind::bf16;
    case gguf::TensorType::q8_0: return WeightKind::q8_0;
    case gguf::TensorType::q4_0: return WeightKind::q4_0;
    case gguf::TensorType::q4_k: return WeightKind::q4_k;
    case gguf::TensorType::q6_k: return WeightKind::q6_k;
    default: return WeightKind::f32;
  }
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)));
}

struct DeviceLayer {
  const float* attn_norm = nullptr;
  DeviceMatrix wq, wk, wv, wo;
  const float* bq = nullptr;
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;
  DeviceMatrix gate, up, down;
};

// GEMV targets: out = W . in (+ bias); residual += W . in; out = silu(gate . in) * (up . in).
cuda::MatvecTarget into(float* out, const DeviceMatrix& w, const float* bias = nullptr) {
  cuda::MatvecTarget t;
  t.w = w;
  t.out = out;
  t.bias = bias;
  return t;
}
cuda::MatvecTarget added_to(float* residual, const DeviceMatrix& w) {
  cuda::MatvecTarget t = into(residual, w);
  t.accumulate = true;
  return t;
}
cuda::MatvecTarget gated_into(float* out, const DeviceMatrix& gate, const DeviceMatrix& up) {
  cuda::MatvecTarget t = into(out, gate);
  t.glu = up;
  return t;
}

class CudaBackend final : public ForwardBackend {
 public:
  static constexpr std::size_t kCublasWorkspaceBytes = std::size_t{32} << 20;

  CudaBackend(int device, const ModelConfig& config, const BackendPlan& plan)
      : device_(device), config_(config), plan_(plan) {}

  ~CudaBackend() override {
    cudaSetDevice(device_);
    for (auto& [key, graph] : graphs_) cudaGraphExecDestroy(graph);
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    for (void* p : device_allocations_) cudaFree(p);
    for (void* p : host_allocations_) cudaFreeHost(p);
  }

  // Uploads weights and allocates all run state; throws std::runtime_error with the reason.
  void initialise(const ModelWeights& weights) {
    check(cudaSetDevice(device_), "selecting the GPU");
    cudaDeviceProp props{};
    check(cudaGetDeviceProperties(&props, device_), "reading GPU properties");
    name_ = "cuda:" + std::to_string(device_) + " (" + props.name + ")";
    std::size_t free_bytes = 0, total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "reading GPU memory");
    const std::size_t needed = planned_bytes(weights);
    if (needed > free_bytes)
      throw std::runtime_error("the model needs " + std::to_string(needed >> 20) + " MiB on cuda:" +
                               std::to_string(device_) + " but " + std::to_string(free_bytes >> 20) +
                               " MiB are free; lower context_length or max_batch, or use a smaller type");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
    check(cublasCreate(&cublas_), "creating the cuBLAS handle");
    check(cublasSetStream(cublas_, stream_), "binding cuBLAS to the stream");
    // A workspace of our own, so that GEMMs captured into decode graphs never allocate.
    check(cublasSetWorkspace(cublas_, device_alloc(kCublasWorkspaceBytes), kCublasWorkspaceBytes),
          "giving cuBLAS its workspace");

    embedding_ = upload(weights.token_embedding);
    output_ = &weights.output == &weights.token_embedding || weights.output.data == weights.token_embedding.data
                  ? embedding_
                  : upload(weights.output);
    output_norm_ = upload(weights.output_norm);
    rope_frequencies_ = upload_rope_frequencies(weights.rope_freq_divisors);
    for (const LayerWeights& l : weights.layers) {
      DeviceLayer d;
      d.attn_norm = upload(l.attn_norm);
      d.wq = upload(l.wq);
      d.wk = upload(l.wk);
      d.wv = upload(l.wv);
      if (config_.has_qkv_bias) {
        d.bq = upload(l.bq);
        d.bk = upload(l.bk);
        d.bv = upload(l.bv);
      }
      d.wo = upload(l.wo);
      d.ffn_norm = upload(l.ffn_norm);
      d.gate = upload(l.w_gate);
      d.up = upload(l.w_up);
      d.down = upload(l.w_down);
      layers_.push_back(d);
    }

    const std::size_t t = plan_.max_step_tokens;
    x_ = floats(t * config_.n_embd);
    xb_ = floats(t * config_.n_embd);
    q_ = floats(t * config_.q_dim());
    k_ = floats(t * config_.kv_dim());
    v_ = floats(t * config_.kv_dim());
    attn_ = floats(t * config_.q_dim());
    gate_ = floats(t * config_.n_ff);
    up_ = floats(t * config_.n_ff);
    logits_ = floats(plan_.max_logit_rows * config_.n_vocab);
    key_cache_ = floats(kv_floats());
    value_cache_ = floats(kv_floats());
    check(cudaMemsetAsync(key_cache_, 0, kv_floats() * sizeof(float), stream_), "clearing the KV cache");
    check(cudaMemsetAsync(value_cache_, 0, kv_floats() * sizeof(float), stream_), "clearing the KV cache");
    if (t > kGemvOnlyTokens) {
      x16_ = device_alloc(t * static_cast<std::size_t>(std::max(config_.n_embd, std::max(config_.n_ff, config_.q_dim()))) * 2);
    }
    staging_ints_ = metadata_ints();
    staging_ = static_cast<std::int32_t*>(host_alloc(staging_ints_ * sizeof(std::int32_t)));
    metadata_ = static_cast<std::int32_t*>(device_alloc(staging_ints_ * sizeof(std::int32_t)));
    logits_host_ = static_cast<float*>(host_alloc(plan_.max_logit_rows * config_.n_vocab * sizeof(float)));
    sampling_host_ = static_cast<cuda::DeviceRowSampling*>(host_alloc(plan_.max_logit_rows * sizeof(cuda::DeviceRowSampling)));
    sampling_dev_ = static_cast<cuda::DeviceRowSampling*>(device_alloc(plan_.max_logit_rows * sizeof(cuda::DeviceRowSampling)));
    next_host_ = static_cast<std::int32_t*>(host_alloc(plan_.max_logit_rows * sizeof(std::int32_t)));
    next_dev_ = static_cast<std::int32_t*>(device_alloc(plan_.max_logit_rows * sizeof(std::int32_t)));
    if (t > kGemvOnlyTokens && !(plan_.keep_expanded_weights && keep_expanded_copies(total_bytes)))
      w16_ = device_alloc(largest_matrix_elements(weights) * 2);
    check(cudaStreamSynchronize(stream_), "uploading the model");
  }

  void forward(std::span<const StepToken> tokens, std::span<const std::span<const std::int32_t>> page_tables,
               float* logits) override {
    const int rows = run_step(tokens, page_tables, {});
    check(cudaMemcpyAsync(logits_host_, logits_, static_cast<std::size_t>(rows) * config_.n_vocab * sizeof(float),
                          cudaMemcpyDeviceToHost, stream_),
          "reading logits");
    check(cudaStreamSynchronize(stream_), "running the forward pass");
    std::copy(logits_host_, logits_host_ + static_cast<std::size_t>(rows) * config_.n_vocab, logits);
  }

  bool samples_on_device() const override { return true; }

  void forward_and_sample(std::span<const StepToken> tokens, std::span<const std::span<const std::int32_t>> page_tables,
                          std::span<const RowSampling> sampling, std::int32_t* next_tokens) override {
    const int rows = run_step(tokens, page_tables, sampling);
    check(cudaMemcpyAsync(next_host_, next_dev_, static_cast<std::size_t>(rows) * sizeof(std::int32_t),
                          cudaMemcpyDeviceToHost, stream_),
          "reading sampled tokens");
    check(cudaStreamSynchronize(stream_), "running the forward pass");
    std::copy(next_host_, next_host_ + rows, next_tokens);
  }

  std::size_t max_step_tokens() const override { return plan_.max_step_tokens; }
  std::size_t max_logit_rows() const override { return plan_.max_logit_rows; }
  std::string device_name() const override { return name_; }
  std::size_t device_memory_used_bytes() const override { return device_bytes_; }

  double measure_memory_bandwidth() override {
    constexpr std::size_t kBytes = std::size_t{1} << 30;
    check(cudaSetDevice(device_), "selecting the GPU");
    void* a = nullptr;
    void* b = nullptr;
    if (cudaMalloc(&a, kBytes) != cudaSuccess) return 0;
    if (cudaMalloc(&b, kBytes) != cudaSuccess) {
      cudaFree(a);
      return 0;
    }
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    cudaMemcpyAsync(b, a, kBytes, cudaMemcpyDeviceToDevice, stream_);  // warm-up
    float best_ms = 0;
    for (int pass = 0; pass < 3; ++pass) {
      cudaEventRecord(start, stream_);
      cudaMemcpyAsync(b, a, kBytes, cudaMemcpyDeviceToDevice, stream_);
      cudaEventRecord(stop, stream_);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      if (best_ms == 0 || ms < best_ms) best_ms = ms;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaFree(a);
    cudaFree(b);
    // A copy reads and writes every byte.
    return best_ms > 0 ? 2.0 * kBytes / (best_ms * 1e-3) : 0;
  }

 private:
  // Uploads the step's metadata (and sampling requests), then runs the pass: replaying the
  // captured graph of a pure decode step, or enqueueing kernels directly. Returns the logit rows.
  int run_step(std::span<const StepToken> tokens, std::span<const std::span<const std::int32_t>> page_tables,
               std::span<const RowSampling> sampling) {
    check(cudaSetDevice(device_), "selecting the GPU");
    if (tokens.size() > plan_.max_step_tokens) throw std::logic_error("step larger than planned");
    if (page_tables.size() > plan_.max_logit_rows) throw std::logic_error("more KV slots than planned");
    const int n = static_cast<int>(tokens.size());
    int rows = 0;
    std::int32_t* host_tokens = staging_;
    std::int32_t* host_positions = staging_ + plan_.max_step_tokens;
    std::int32_t* host_slots = host_positions + plan_.max_step_tokens;
    std::int32_t* host_rows = host_slots + plan_.max_step_tokens;
    std::int32_t* host_table = host_rows + plan_.max_logit_rows;
    // A step whose tokens all belong to different sequences takes the fused decode attention.
    slot_seen_.assign(page_tables.size(), 0);
    bool distinct_slots = true;
    for (int i = 0; i < n; ++i) {
      const StepToken& t = tokens[static_cast<std::size_t>(i)];
      host_tokens[i] = t.token;
      host_positions[i] = t.position;
      host_slots[i] = t.slot;
      if (t.wants_logits) host_rows[rows++] = i;
      char& seen = slot_seen_.at(static_cast<std::size_t>(t.slot));
      distinct_slots = distinct_slots && seen == 0;
      seen = 1;
    }
    if (static_cast<std::size_t>(rows) > plan_.max_logit_rows) throw std::logic_error("more logit rows than planned");
    for (std::size_t s = 0; s < page_tables.size(); ++s)
      std::copy(page_tables[s].begin(), page_tables[s].end(), host_table + s * plan_.kv_pages);
    // Only the page tables of the slots this step names travel (a bench with 64 slots of 640 pages
    // would otherwise copy 160 KB per token).
    const std::size_t used_ints = static_cast<std::size_t>(host_table - staging_) + page_tables.size() * plan_.kv_pages;
    check(cudaMemcpyAsync(metadata_, staging_, used_ints * sizeof(std::int32_t), cudaMemcpyHostToDevice, stream_),
          "uploading the step");
    const bool sample = !sampling.empty();
    if (sample) {
      if (sampling.size() != static_cast<std::size_t>(rows)) throw std::logic_error("one sampling request per logit row");
      for (int r = 0; r < rows; ++r) {
        const RowSampling& rs = sampling[static_cast<std::size_t>(r)];
        sampling_host_[r] = {rs.temperature, rs.top_k, rs.top_p, rs.uniform};
      }
      check(cudaMemcpyAsync(sampling_dev_, sampling_host_, static_cast<std::size_t>(rows) * sizeof(cuda::DeviceRowSampling),
                            cudaMemcpyHostToDevice, stream_),
            "uploading sampling requests");
    }

    // Pure decode steps have a fixed shape per batch size: replay a captured graph of the whole pass.
    if (n <= cuda::kGraphMaxTokens && n == rows) {
      const GraphKey key{n, sample, distinct_slots};
      auto found = graphs_.find(key);
      if (found == graphs_.end()) {
        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "capturing the decode graph");
        enqueue_forward(n, rows, sample, distinct_slots);
        check(cudaStreamEndCapture(stream_, &graph), "capturing the decode graph");
        const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        check(made, "instantiating the decode graph");
        found = graphs_.emplace(key, exec).first;
      }
      check(cudaGraphLaunch(found->second, stream_), "launching the decode graph");
    } else {
      enqueue_forward(n, rows, sample, distinct_slots);
    }
    return rows;
  }

  std::size_t kv_floats() const {
    return static_cast<std::size_t>(config_.n_layers) * plan_.kv_pages * kKvPageTokens *
           static_cast<std::size_t>(config_.kv_dim());
  }
  std::size_t metadata_ints() const {
    return 3 * plan_.max_step_tokens + plan_.max_logit_rows + plan_.max_logit_rows * plan_.kv_pages;
  }
  static std::size_t largest_matrix_elements(const ModelWeights& w) {
    std::size_t largest = 0;
    for (const WeightMatrix* m : w.matrices()) largest = std::max(largest, m->rows * m->cols);
    return largest;
  }
  std::size_t planned_bytes(const ModelWeights& w) const {
    const std::size_t t = plan_.max_step_tokens;
    std::size_t bytes = w.bytes_per_token() + (w.output.data == w.token_embedding.data ? 0 : w.token_embedding.total_bytes());
    bytes += sizeof(float) * (2 * kv_floats() + t * (2 * config_.n_embd + 2 * config_.q_dim() + 2 * config_.kv_dim() +
                                                     2 * config_.n_ff) +
                              plan_.max_logit_rows * config_.n_vocab);
    if (t > kGemvOnlyTokens) bytes += 2 * largest_matrix_elements(w);
    bytes += kCublasWorkspaceBytes;
    return bytes;
  }

  // Batched steps give cuBLAS quantized matrices expanded to F16. Where the GPU has room for all of
  // them beside everything already allocated, with a tenth of its memory left free for others, each
  // is expanded once here and kept (returns true); otherwise every batched step expands each matrix
  // into w16_ again (on an H100, 1.3 ms of the 3.0-3.3 ms of a llama-3.2-1b Q8_0 step of 4 to 64
  // tokens). The values are the same either way.
  bool keep_expanded_copies(std::size_t gpu_bytes) {
    std::vector<const DeviceMatrix*> quantized;
    std::size_t bytes = 0;
    const auto consider = [&](const DeviceMatrix& m) {
      const bool seen = std::any_of(quantized.begin(), quantized.end(), [&](const DeviceMatrix* q) { return q->data == m.data; });
      if (!cuda::is_quantized(m.kind) || seen) return;
      quantized.push_back(&m);
      bytes += static_cast<std::size_t>(m.rows) * m.cols * 2;
    };
    for (const DeviceLayer& l : layers_)
      for (const DeviceMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) consider(*m);
    consider(output_);
    if (quantized.empty()) return true;  // nothing to expand: no w16_ needed either
    std::size_t free_bytes = 0, unused = 0;
    check(cudaMemGetInfo(&free_bytes, &unused), "reading GPU memory");
    if (free_bytes < bytes + gpu_bytes / 10) return false;
    for (const DeviceMatrix* m : quantized) {
      void* copy = device_alloc(static_cast<std::size_t>(m->rows) * m->cols * 2);
      cuda::launch_expand_weights(copy, *m, stream_);
      expanded_[m->data] = copy;
    }
    check(cudaGetLastError(), "expanding quantized weights");
    return true;
  }

  void* device_alloc(std::size_t bytes) {
    void* p = nullptr;
    check(cudaMalloc(&p, std::max<std::size_t>(bytes, 1)), "allocating GPU memory");
    device_allocations_.push_back(p);
    device_bytes_ += bytes;
    return p;
  }
  void* host_alloc(std::size_t bytes) {
    void* p = nullptr;
    check(cudaMallocHost(&p, std::max<std::size_t>(bytes, 1)), "allocating pinned host memory");
    host_allocations_.push_back(p);
    return p;
  }
  float* floats(std::size_t n) { return static_cast<float*>(device_alloc(n * sizeof(float))); }
  const float* upload(const std::vector<float>& v) {
    return static_cast<const float*>(upload_bytes(v.data(), v.size() * sizeof(float)));
  }
  // The rotary frequency of each pair of dims, as the CPU pass computes it.
  const double* upload_rope_frequencies(const std::vector<float>& divisors) {
    std::vector<double> frequencies(static_cast<std::size_t>(config_.rope_dims / 2));
    for (std::size_t i = 0; i < frequencies.size(); ++i) {
      frequencies[i] = std::pow(static_cast<double>(config_.rope_theta), -2.0 * static_cast<double>(i) / config_.rope_dims);
      if (!divisors.empty()) frequencies[i] /= divisors[i];
    }
    return static_cast<const double*>(upload_bytes(frequencies.data(), frequencies.size() * sizeof(double)));
  }

  // Uploads a weight matrix; quantized blocks are split into codes and scales (split_blocks.hpp).
  DeviceMatrix upload(const WeightMatrix& m) {
    DeviceMatrix d;
    d.kind = kind_of(m.type);
    d.rows = static_cast<int>(m.rows);
    d.cols = static_cast<int>(m.cols);
    if (!cuda::is_quantized(d.kind)) {
      d.data = static_cast<const unsigned char*>(upload_bytes(m.data, m.total_bytes()));
      d.row_bytes = m.row_bytes;
      return d;
    }
    const SplitBlocks split = split_blocks(m);
    d.row_bytes = split.code_row_bytes;
    d.data = static_cast<const unsigned char*>(upload_bytes(split.codes.data(), split.codes.size()));
    d.scales = static_cast<const std::uint16_t*>(upload_bytes(split.scales.data(), split.scales.size() * sizeof(std::uint16_t)));
    if (!split.supers.empty())
      d.supers = static_cast<const std::uint32_t*>(upload_bytes(split.supers.data(), split.supers.size() * sizeof(std::uint32_t)));
    if (!split.high.empty()) d.high = static_cast<const unsigned char*>(upload_bytes(split.high.data(), split.high.size()));
    return d;
  }
  void* upload_bytes(const void* bytes, std::size_t n) {
    void* p = device_alloc(n);
    check(cudaMemcpy(p, bytes, n, cudaMemcpyHostToDevice), "uploading the model");
    return p;
  }

  // W . in for each target (see cuda::MatvecTarget): one fused GEMV launch for decode-sized steps;
  // beyond, the input's RMSNorm, cuBLAS GEMMs and the epilogues as separate kernels.
  void project(std::initializer_list<cuda::MatvecTarget> targets, const cuda::MatvecInput& in, int n) {
    if (n <= gemv_max_tokens(targets.begin()->w.kind)) {
      cuda::MatvecChoice choice;
      choice.stream_always = plan_.stream_every_gemv;
      choice.float_input = plan_.gemv_float_input;
      cuda::launch_matvec(targets.begin(), static_cast<int>(targets.size()), in, n, stream_, choice);
      return;
    }
    const float* x = in.x;
    if (in.norm != nullptr) {
      cuda::launch_rmsnorm(xb_, in.x, in.norm, n, targets.begin()->w.cols, in.eps, stream_);
      x = xb_;
    }
    for (const cuda::MatvecTarget& t : targets) {
      if (t.glu.data != nullptr) {
        gemm(t.out, t.w, x, n, false);
        gemm(up_, t.glu, x, n, false);
        cuda::launch_silu_mul(t.out, t.out, up_, static_cast<std::size_t>(n) * t.w.rows, stream_);
        continue;
      }
      gemm(t.out, t.w, x, n, t.accumulate);
      if (t.bias != nullptr) cuda::launch_add_bias(t.out, t.bias, n, t.w.rows, stream_);
    }
  }

  // The GEMV decodes every weight once per token, cuBLAS reads it once for all tokens but needs
  // quantized weights expanded to f16: kept from load where memory allows (expanded_), else expanded
  // again each step. Measured crossovers on an H100 (llama-3.2-1b shape, tokens/s): the GEMV is
  // faster up to 2 tokens for 16-bit weights. Quantized weights through the coded-input GEMV, against
  // cuBLAS on the kept copies: 2 tokens 2,003 / 2,393 / 2,134 / 1,644 (Q8_0 / Q4_0 / Q4_K / Q6_K)
  // against 1,173-1,328; 3 tokens 2,036 / 2,572 / 2,474 / 1,915 against 1,761-1,771; 4 tokens
  // 2,340 / 2,902 / 2,803 / 2,253 against 2,327-2,340, so 4 for the 4-bit kinds and 3 for the others;
  // expanding each step instead, the GEMV up to its limit. Through the float-input GEMV
  // (BackendPlan::gemv_float_input): 2 tokens for Q8_0, 1 for the others with copies (1,319 against
  // 1,175 for Q8_0; 1,017-1,068 against 1,164-1,174), 3 without.
  static constexpr std::size_t kGemvOnlyTokens = 2;  // steps this small never need cuBLAS buffers
  int gemv_max_tokens(WeightKind kind) const {
    static_assert(4 == cuda::kMatvecMaxTokens);
    if (x16_ == nullptr) return cuda::kMatvecMaxTokens;  // no step is larger than kGemvOnlyTokens
    if (!cuda::is_quantized(kind)) return static_cast<int>(kGemvOnlyTokens);
    if (plan_.gemv_float_input) return expanded_.empty() ? 3 : kind == WeightKind::q8_0 ? 2 : 1;
    if (expanded_.empty()) return cuda::kMatvecMaxTokens;
    return kind == WeightKind::q4_0 || kind == WeightKind::q4_k ? 4 : 3;
  }

  // out[b][r] (+)= W[r] . x[b] through cuBLAS: quantized weights expanded to f16 first.
  void gemm(float* out, const DeviceMatrix& w, const float* x, int n, bool accumulate) {
    const float one = 1.0f;
    const float beta = accumulate ? 1.0f : 0.0f;
    // Row-major W (rows x cols) is column-major W^T with ld = cols; so out^T = op(W^T)^T-style:
    // C (rows x n, column-major, ld rows) = A^T (rows x cols) * B (cols x n, ld cols).
    if (w.kind == WeightKind::f32) {
      check(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, n, w.cols, &one,
                        reinterpret_cast<const float*>(w.data), w.cols, x, w.cols, &beta, out, w.rows),
            "cuBLAS SGEMM");
      return;
    }
    const bool bf16 = w.kind == WeightKind::bf16;
    const cudaDataType type16 = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    const void* a = w.data;
    if (cuda::is_quantized(w.kind)) {
      const auto kept = expanded_.find(w.data);
      if (kept != expanded_.end()) {
        a = kept->second;
      } else {
        cuda::launch_expand_weights(w16_, w, stream_);
        a = w16_;
      }
    }
    cuda::launch_activations_to_16bit(x16_, x, static_cast<std::size_t>(n) * w.cols, bf16, stream_);
    check(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, n, w.cols, &one, a, type16, w.cols, x16_, type16,
                       w.cols, &beta, out, CUDA_R_32F, w.rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cuBLAS GEMM");
  }

  // One forward step, top to bottom. Per layer: the q/k/v projections of the normalised residual,
  // rotary embedding and KV store, attention, the output projection added into the residual, the
  // gated FFN of the normalised residual, and its down projection added into the residual.
  void enqueue_forward(int n, int rows, bool sample, bool distinct_slots) {
    const ModelConfig& c = config_;
    const std::int32_t* tokens = metadata_;
    const std::int32_t* positions = metadata_ + plan_.max_step_tokens;
    const std::int32_t* slots = positions + plan_.max_step_tokens;
    const std::int32_t* logit_rows = slots + plan_.max_step_tokens;
    const std::int32_t* table = logit_rows + plan_.max_logit_rows;
    const std::size_t layer_floats = plan_.kv_pages * kKvPageTokens * static_cast<std::size_t>(c.kv_dim());
    const cuda::RopeParams rope{c.head_dim, c.rope_dims, c.rope_style == RopeStyle::neox, c.rope_position_scale,
                                rope_frequencies_};
    const cuda::AttentionParams attention{c.n_heads, c.n_kv_heads, c.head_dim};

    cuda::launch_embed(x_, embedding_, tokens, n, stream_);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const DeviceLayer& w = layers_[l];
      const cuda::PagedKv kv{key_cache_ + l * layer_floats, value_cache_ + l * layer_floats, table,
                             static_cast<int>(plan_.kv_pages), c.kv_dim()};
      project({into(q_, w.wq, w.bq), into(k_, w.wk, w.bk), into(v_, w.wv, w.bv)}, {x_, w.attn_norm, c.rms_eps}, n);
      if (distinct_slots) {
        cuda::launch_decode_attention(attn_, q_, k_, v_, kv, slots, positions, n, attention, rope, stream_);
      } else {
        cuda::launch_rope_and_store(q_, k_, v_, c.n_heads, kv, slots, positions, n, rope, stream_);
        cuda::launch_attention(attn_, q_, kv, slots, positions, n, attention, stream_);
      }
      project({added_to(x_, w.wo)}, {attn_}, n);
      project({gated_into(gate_, w.gate, w.up)}, {x_, w.ffn_norm, c.rms_eps}, n);
      project({added_to(x_, w.down)}, {gate_}, n);
    }
    // Logits for the rows that want them (all of them in a decode step, which needs no gather).
    const float* last = x_;
    if (rows != n) {
      cuda::launch_gather_rows(xb_, x_, logit_rows, rows, c.n_embd, stream_);
      last = xb_;
    }
    if (rows > 0) project({into(logits_, output_)}, {last, output_norm_, c.rms_eps}, rows);
    if (sample) cuda::launch_sample(next_dev_, logits_, sampling_dev_, rows, c.n_vocab, stream_);
    check(cudaGetLastError(), "launching kernels");
  }

  int device_;
  std::string name_;
  const ModelConfig& config_;
  BackendPlan plan_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<void*> device_allocations_;
  std::vector<void*> host_allocations_;
  std::size_t device_bytes_ = 0;

  DeviceMatrix embedding_;
  DeviceMatrix output_;
  const float* output_norm_ = nullptr;
  const double* rope_frequencies_ = nullptr;  // (rope_dims / 2)
  std::vector<DeviceLayer> layers_;

  float* x_ = nullptr;      // (step_tokens, n_embd) residual stream
  float* xb_ = nullptr;     // (step_tokens, n_embd) normalised input (cuBLAS steps), gathered rows
  float* q_ = nullptr;      // (step_tokens, q_dim)
  float* k_ = nullptr;      // (step_tokens, kv_dim)
  float* v_ = nullptr;      // (step_tokens, kv_dim)
  float* attn_ = nullptr;   // (step_tokens, q_dim)
  float* gate_ = nullptr;   // (step_tokens, n_ff)
  float* up_ = nullptr;     // (step_tokens, n_ff) up projection (cuBLAS steps)
  float* logits_ = nullptr; // (logit_rows, n_vocab)
  float* key_cache_ = nullptr;    // (layer, page, kKvPageTokens, kv_dim)
  float* value_cache_ = nullptr;  // (layer, page, kKvPageTokens, kv_dim)
  void* w16_ = nullptr;  // one weight matrix expanded to 16 bits for cuBLAS
  std::map<const unsigned char*, void*> expanded_;  // quantized matrix data -> its kept F16 copy
  void* x16_ = nullptr;  // (step_tokens, widest input) activations in 16 bits for cuBLAS

  // Step metadata: tokens, positions, slots (max_step_tokens each), logit rows, page tables.
  std::size_t staging_ints_ = 0;
  std::int32_t* staging_ = nullptr;   // pinned host copy
  std::int32_t* metadata_ = nullptr;  // device copy
  float* logits_host_ = nullptr;      // pinned
  cuda::DeviceRowSampling* sampling_host_ = nullptr;  // pinned, (logit_rows)
  cuda::DeviceRowSampling* sampling_dev_ = nullptr;   // (logit_rows)
  std::int32_t* next_host_ = nullptr;                 // pinned, (logit_rows) sampled tokens
  std::int32_t* next_dev_ = nullptr;                  // (logit_rows)
  using GraphKey = std::tuple<int, bool, bool>;  // token count, sampling, distinct slots
  std::map<GraphKey, cudaGraphExec_t> graphs_;   // captured decode steps
  std::vector<char> slot_seen_;                  // scratch of run_step
};

}  // namespace

std::variant<std::unique_ptr<ForwardBackend>, std::string> make_cuda_backend(int device, const ModelConfig& config,
                                                                             const ModelWeights& weights,
                                                                             const BackendPlan& plan) {
  if (config.head_dim > cuda::kMaxHeadDim)
    return "head size " + std::to_string(config.head_dim) + " exceeds the CUDA kernels' limit of " +
           std::to_string(cuda::kMaxHeadDim);
  auto backend = std::make_unique<CudaBackend>(device, config, plan);
  try {
    backend->initialise(weights);
  } catch (const std::exception& e) {
    return std::string("cuda:") + std::to_string(device) + ": " + e.what();
  }
  return backend;
}

}  // namespace compute
}  // namespace sovereign::accel
