// The device-independent contract of one forward step over a batch of tokens from many sequences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace sovereign::accel::compute {

// One token of a step: its sequence slot (which owns KV pages) and its position in that sequence.
struct StepToken {
  std::int32_t token = 0;
  std::int32_t position = 0;
  std::int32_t slot = 0;
  bool wants_logits = false;
};

// How one logits row picks its token where the backend samples on the device. `uniform` is a draw
// in [0, 1) from the sequence's own generator, so a seeded request is reproducible on one device.
struct RowSampling {
  float temperature = 0.0f;  // <= 0: greedy
  int top_k = 0;
  float top_p = 1.0f;
  float uniform = 0.0f;
};

// Runs the transformer over a step. Tokens of one slot appear in position order, and every
// position below a token's own is either earlier in the step or already in the KV cache.
class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;

  // Writes one row of n_vocab logits per token with wants_logits, in step order.
  // page_tables[slot] lists the KV pages of that slot, kKvPageTokens positions each.
  virtual void forward(std::span<const StepToken> tokens,
                       std::span<const std::span<const std::int32_t>> page_tables,
                       float* logits) = 0;

  // Most tokens one forward() accepts, and most of them that may want logits.
  virtual std::size_t max_step_tokens() const = 0;
  virtual std::size_t max_logit_rows() const = 0;
  virtual std::string device_name() const = 0;
  virtual std::size_t device_memory_used_bytes() const = 0;
  // Bytes per second the device's memory sustains, measured now; 0 where host memory is the
  // device memory (the caller measures that itself).
  virtual double measure_memory_bandwidth() { return 0; }

  // Backends that can sample next to the logits (no logits copy to the host) say so here and
  // implement forward_and_sample, which writes one token per wants_logits token, in step order.
  virtual bool samples_on_device() const { return false; }
  virtual void forward_and_sample(std::span<const StepToken>, std::span<const std::span<const std::int32_t>>,
                                  std::span<const RowSampling>, std::int32_t*) {
    throw std::logic_error("this backend does not sample on the device");
  }
};

}  // namespace sovereign::accel::compute
