// The inference engine the gateway calls: loads a GGUF model onto a device and serves generation
// requests from many clients through one continuous-batching scheduler thread.
//
// Usage:
//   auto loaded = Engine::load({.model_file = "model.gguf", .device = "auto"});
//   auto& engine = std::get<std::unique_ptr<Engine>>(loaded);
//   auto handle = engine->submit(request, {.on_text = ..., .on_finish = ...});
//   // on_text/on_finish run on the scheduler thread; handle->cancel() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "accel/chat/chat_template.hpp"

namespace sovereign::accel {

// How to load a model and how much work to accept.
struct EngineOptions {
  std::filesystem::path model_file;
  std::string device = "auto";  // auto | cpu | cuda (= cuda:0) | cuda:N
  int context_length = 2048;    // per sequence; capped by nothing but memory (the KV cache is allocated at load)
  int max_batch = 16;           // sequences decoded together
  int threads = 0;              // CPU threads; 0: one per hardware thread
  // Requests waiting for a batch slot before submit() refuses: max_batch running plus max_queue waiting
  // are accepted (a request that only waits for the next step to take a free slot does not count).
  std::size_t max_queue = 256;
  // Positions the KV cache holds for all sequences together (in pages of 16). 0: context_length ×
  // max_batch, so every sequence can always fill its context. Smaller bounds the cache's memory:
  // a request whose prompt and max_tokens do not fit in what is free waits for pages (first come,
  // first served). At least context_length, so any single request fits.
  std::size_t kv_cache_tokens = 0;
  // On a GPU, quantized matrices are also kept expanded to F16 for cuBLAS (prefill and batched
  // decode steps) where the GPU has room for them with a tenth of its memory still free; false
  // expands them again at every such step instead (slower, for GPUs shared with other models).
  bool f16_weight_copies = true;
};

// Sampling knobs of one request (OpenAI semantics).
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0: off
  std::optional<std::uint64_t> seed;
  // nullopt: until an end-of-text token, a stop string or the end of the context (OpenAI's meaning
  // of an absent max_tokens). Either way capped by the room the context leaves after the prompt.
  std::optional<int> max_tokens;
  std::vector<std::string> stop;  // at most kMaxStopStrings, each at most kMaxStopBytes
};

inline constexpr std::size_t kMaxStopStrings = 16;
inline constexpr std::size_t kMaxStopBytes = 256;

// A chat conversation (rendered with the model's template) or a raw completion prompt.
struct GenerationRequest {
  std::vector<ChatMessage> messages;
  std::optional<std::string> prompt;  // when set, messages are ignored
  SamplingParams sampling;
};

enum class FinishReason { stop, length, cancelled, error };

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

// Streaming callbacks, called on the engine's scheduler thread, in order; on_finish exactly once.
struct GenerationEvents {
  std::function<void(std::string_view text)> on_text;  // whole UTF-8 characters only
  std::function<void(FinishReason, Usage)> on_finish;
};

// Lets the submitter stop a generation (e.g. the client disconnected).
class GenerationHandle {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }  // any thread, idempotent
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Why the generation ended with FinishReason::error, where the engine can say (the model's numerical
  // fault: kNumericalFaultPrefix); empty otherwise. Written before on_finish: read it from there or after.
  const std::string& failure() const { return failure_; }

 private:
  friend class Scheduler;
  std::atomic<bool> cancelled_{false};
  std::string failure_;
};

// A failure() that starts with these words: the model produced NaN or infinite logits (broken weights).
inline constexpr std::string_view kNumericalFaultPrefix = "numerical fault: ";

// A snapshot for /metrics.
struct EngineStats {
  std::size_t queue_depth = 0;        // admitted-to-queue requests not yet decoding
  std::size_t active_sequences = 0;   // sequences in the running batch
  double tokens_per_second = 0;       // generated tokens per second over the last few seconds
  double kv_cache_used_fraction = 0;  // KV pages held by running sequences / all pages
  std::size_t gpu_memory_used_bytes = 0;
  std::string device;
};

class Scheduler;

class Engine {
 public:
  // Loads the model, allocates weights, activations and the whole KV cache up front; the error
  // text names the file and what is wrong (bad GGUF field, unsupported type, no such device, memory).
  // Where an option rather than the file is at fault, `option_at_fault` receives its EngineOptions name
  // ("context_length", "device", ...), so a configuration can point at that setting; else "".
  [[nodiscard]] static std::variant<std::unique_ptr<Engine>, std::string> load(const EngineOptions& options,
                                                                               std::string* option_at_fault = nullptr);
  // What load() checks before it allocates anything large (the GGUF file, the model configuration,
  // every weight's name, type and shape, the tokenizer, the options against the model, and that the
  // device exists), for `config check`; empty if those pass, else load()'s error text.
  [[nodiscard]] static std::string check(const EngineOptions& options, std::string* option_at_fault = nullptr);
  // The same checks of the model file alone, whatever the options (`model info`).
  [[nodiscard]] static std::string check_model_file(const std::filesystem::path& file);

  // Queues a request; the error text says why it cannot be admitted. It starts with
  // "invalid request: " (sampling values, empty prompt: a 400), "context exceeded: " (a prompt that
  // leaves no room for a reply: a 400) or "engine busy: " (queue full, shutting down: a 429/503);
  // see kInvalidPrefix/kContextPrefix/kBusyPrefix.
  std::variant<std::shared_ptr<GenerationHandle>, std::string> submit(GenerationRequest request,
                                                                      GenerationEvents events);

  EngineStats stats() const;
  std::string_view model_name() const;
  int context_length() const;
  const ChatTemplate& chat_template() const;  // the prompt format chat requests are rendered in

  // Stops the scheduler thread; outstanding requests finish with FinishReason::cancelled.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

 private:
  explicit Engine(std::unique_ptr<Scheduler> scheduler);
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace sovereign::accel
