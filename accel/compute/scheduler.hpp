// The engine's scheduler: admits queued requests into batch slots with a KV-cache reservation,
// runs one forward step at a time over every running sequence (prefill chunks and single decode
// tokens together), samples, streams text and retires finished or cancelled sequences.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "accel/compute/engine.hpp"
#include "accel/compute/forward_backend.hpp"
#include "accel/compute/kv_pages.hpp"
#include "accel/compute/model_loader.hpp"
#include "accel/compute/sampler.hpp"
#include "accel/compute/text_stream.hpp"
#include "accel/tokenizer/tokenizer.hpp"

namespace sovereign::accel {

// Request messages that start with these words let the gateway choose 429/503 over 400.
inline constexpr std::string_view kBusyPrefix = "engine busy: ";
inline constexpr std::string_view kInvalidPrefix = "invalid request: ";
// A prompt that leaves no room in the context for a reply (OpenAI's context_length_exceeded).
inline constexpr std::string_view kContextPrefix = "context exceeded: ";

class Scheduler {
 public:
  Scheduler(std::unique_ptr<compute::LoadedModel> model, std::unique_ptr<Tokenizer> tokenizer,
            ChatTemplate chat_template, std::unique_ptr<compute::ForwardBackend> backend,
            const EngineOptions& options, std::size_t kv_pages);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  std::variant<std::shared_ptr<GenerationHandle>, std::string> submit(GenerationRequest request,
                                                                      GenerationEvents events);
  EngineStats stats() const;
  std::string_view model_name() const { return model_->config.name; }
  const ChatTemplate& chat_template() const { return chat_template_; }
  int context_length() const { return context_length_; }

 private:
  // A validated, tokenized request waiting for a slot.
  struct Pending {
    std::vector<std::int32_t> prompt;
    SamplingParams sampling;
    GenerationEvents events;
    std::shared_ptr<GenerationHandle> handle;
    std::size_t pages_needed = 0;
    bool drop_leading_space = false;  // a chat answer of a tokenizer that strips_leading_space()
  };

  // A sequence in the running batch.
  struct Sequence {
    Pending request;
    std::size_t slot = 0;
    std::size_t kv_len = 0;        // positions already in the KV cache
    std::int32_t next_input = 0;   // the last sampled token, fed at the next decode step
    int generated = 0;
    compute::Sampler sampler;
    compute::TextStream text;
    bool finished = false;  // on_finish delivered; the slot is freed after the step
  };

  void run();
  void admit_waiting();
  void run_step();
  void accept_token(Sequence& seq, std::int32_t token);
  void finish(Sequence& seq, FinishReason reason);
  void retire_finished();
  void note_generated(std::size_t tokens);
  void publish_occupancy();
  // Requests in queue_ whose clients have not cancelled them; called with mutex_ held.
  std::size_t waiting_locked() const;

  std::unique_ptr<compute::LoadedModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ChatTemplate chat_template_;
  std::unique_ptr<compute::ForwardBackend> backend_;
  const int context_length_;
  const std::size_t max_batch_;
  const std::size_t max_queue_;
  std::vector<std::int32_t> end_tokens_;

  // Shared with submitters and stats readers.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::size_t active_count_ = 0;
  std::size_t pages_in_use_ = 0;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::size_t>> recent_tokens_;

  // Owned by the scheduler thread.
  compute::KvPageTable pages_;
  std::vector<std::unique_ptr<Sequence>> active_;
  std::vector<bool> slot_used_;
  std::vector<compute::StepToken> step_tokens_;
  std::vector<Sequence*> logit_owners_;
  std::vector<float> logits_;
  std::vector<compute::RowSampling> row_sampling_;
  std::vector<std::int32_t> sampled_;

  std::thread thread_;
};

}  // namespace sovereign::accel
