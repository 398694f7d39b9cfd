#include "accel/compute/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>

namespace sovereign::accel::compute {

void rmsnorm(float* out, const float* x, const float* weight, std::size_t n, float eps) {
  double sum_squares = 0;
  for (std::size_t i = 0; i < n; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_squares / static_cast<double>(n) + eps));
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void matmul(ThreadPool& pool, const RowDotKernels& kernels, float* out, const WeightMatrix& w,
            const float* x, std::size_t batch) {
  // Chunks of rows keep each thread's slice of W contiguous; 16 rows amortise the dispatch.
  constexpr std::size_t kRowsPerChunk = 16;
  // Measured crossover on AVX2: float rows are dotted in their stored encoding for up to three
  // inputs (single core, bf16: beyond, expanding the row to f32 once and using register tiles is
  // faster than decoding it again for every input). Block-quantized rows: up to the kernel set's
  // quantized_fused_max_batch.
  constexpr std::size_t kFloatFusedMaxBatch = 3;
  const std::size_t chunks = (w.rows + kRowsPerChunk - 1) / kRowsPerChunk;
  const bool quantized_rows = reads_quantized_input(w.type);
  const bool fused = batch <= (quantized_rows ? std::min(kernels.quantized_fused_max_batch, kMaxQuantizedFusedBatch)
                                              : kFloatFusedMaxBatch);
  // Block-quantized rows read their inputs quantized: once per input here, for every row. (The
  // storage is the calling thread's; the pool's threads see it through `inputs`.)
  QuantizedInput inputs[kMaxQuantizedFusedBatch];
  if (fused && quantized_rows) {
    thread_local QuantizedInputs quantized;
    quantized.quantize(x, w.cols, batch, kernels.reads_byte_planes);
    for (std::size_t b = 0; b < batch; ++b) inputs[b] = quantized.input(b);
  }
  pool.parallel_for(chunks, [&](std::size_t first, std::size_t last) {
    const std::size_t row_end = std::min(w.rows, last * kRowsPerChunk);
    // Decode: each row is read from memory once in its stored encoding and decoded in registers
    // for every input (it stays in L1).
    if (fused && quantized_rows) {
      float dots[kMaxRowInputs];
      for (std::size_t r = first * kRowsPerChunk; r < row_end; ++r)
        for (std::size_t b = 0; b < batch; b += kMaxRowInputs) {
          const std::size_t count = std::min(kMaxRowInputs, batch - b);
          dot_row_quantized(kernels, w.type, w.row(r), inputs + b, count, w.cols, dots);
          for (std::size_t i = 0; i < count; ++i) out[(b + i) * w.rows + r] = dots[i];
        }
      return;
    }
    if (fused) {
      for (std::size_t r = first * kRowsPerChunk; r < row_end; ++r)
        for (std::size_t b = 0; b < batch; ++b)
          out[b * w.rows + r] = dot_row(kernels, w.type, w.row(r), RowInput{x + b * w.cols, {}}, w.cols);
      return;
    }
    // Batches: expand a block of rows to f32 once (it stays in L2), then sweep the inputs over it
    // in 4-row x 3-input register tiles, so each input is read once per block, not once per row.
    thread_local std::vector<float> expanded;
    expanded.resize(kRowsPerChunk * w.cols);
    float tile[12];
    for (std::size_t block = first * kRowsPerChunk; block < row_end; block += kRowsPerChunk) {
      const std::size_t block_rows = std::min(kRowsPerChunk, row_end - block);
      const float* rows[kRowsPerChunk];
      for (std::size_t i = 0; i < block_rows; ++i)
        rows[i] = row_to_f32(kernels, w.type, w.row(block + i), expanded.data() + i * w.cols, w.cols);
      std::size_t b = 0;
      for (; b + 3 <= batch; b += 3) {
        std::size_t i = 0;
        for (; i + 4 <= block_rows; i += 4) {
          kernels.f32_4x3(rows + i, x + b * w.cols, w.cols, w.cols, tile);
          for (std::size_t r = 0; r < 4; ++r)
            for (std::size_t j = 0; j < 3; ++j) out[(b + j) * w.rows + block + i + r] = tile[r * 3 + j];
        }
        for (; i < block_rows; ++i)
          for (std::size_t j = 0; j < 3; ++j) out[(b + j) * w.rows + block + i] = kernels.f32(rows[i], x + (b + j) * w.cols, w.cols);
      }
      for (; b < batch; ++b)
        for (std::size_t i = 0; i < block_rows; ++i) out[b * w.rows + block + i] = kernels.f32(rows[i], x + b * w.cols, w.cols);
    }
  });
}

void add_bias(float* out, const float* bias, std::size_t n, std::size_t batch) {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t i = 0; i < n; ++i) out[b * n + i] += bias[i];
}

void rope(float* vec, int heads, const ModelConfig& config, int position,
          std::span<const float> freq_divisors) {
  const int half = config.rope_dims / 2;
  const float pos = static_cast<float>(position) * config.rope_position_scale;
  for (int i = 0; i < half; ++i) {
    double freq = std::pow(static_cast<double>(config.rope_theta), -2.0 * i / config.rope_dims);
    if (!freq_divisors.empty()) freq /= freq_divisors[static_cast<std::size_t>(i)];
    const double angle = static_cast<double>(pos) * freq;
    const float c = static_cast<float>(std::cos(angle));
    const float s = static_cast<float>(std::sin(angle));
    for (int h = 0; h < heads; ++h) {
      float* head = vec + static_cast<std::size_t>(h) * config.head_dim;
      const int a = config.rope_style == RopeStyle::neox ? i : 2 * i;
      const int b = config.rope_style == RopeStyle::neox ? i + half : 2 * i + 1;
      const float x0 = head[a];
      const float x1 = head[b];
      head[a] = x0 * c - x1 * s;
      head[b] = x0 * s + x1 * c;
    }
  }
}

void softmax(float* x, std::size_t n) {
  const float max = *std::max_element(x, x + n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (std::size_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(float* out, const float* gate, const float* up, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void embedding_row(float* out, const WeightMatrix& table, std::size_t row) {
  gguf::dequantize_row(table.type, table.row(row), out, table.cols);
}

}  // namespace sovereign::accel::compute
