#include "accel/compute/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>

namespace sovereign::accel {
namespace {

constexpr auto kThroughputWindow = std::chrono::seconds(5);

std::string check_sampling(const SamplingParams& s) {
  if (!std::isfinite(s.temperature) || s.temperature < 0.0f || s.temperature > 100.0f)
    return "temperature must be between 0 and 100";
  if (!std::isfinite(s.top_p) || s.top_p <= 0.0f || s.top_p > 1.0f) return "top_p must be in (0, 1]";
  if (s.top_k < 0) return "top_k must not be negative";
  if (s.max_tokens && *s.max_tokens < 1) return "max_tokens must be at least 1";
  if (s.stop.size() > kMaxStopStrings) return "at most " + std::to_string(kMaxStopStrings) + " stop strings";
  for (const std::string& stop : s.stop)
    if (stop.size() > kMaxStopBytes) return "a stop string is longer than " + std::to_string(kMaxStopBytes) + " bytes";
  return {};
}

// Calls a user callback; a throwing callback must not take the scheduler thread down.
template <typename Callback, typename... Args>
bool deliver(const Callback& callback, Args&&... args) {
  if (!callback) return true;
  try {
    callback(std::forward<Args>(args)...);
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

Scheduler::Scheduler(std::unique_ptr<compute::LoadedModel> model, std::unique_ptr<Tokenizer> tokenizer,
                     ChatTemplate chat_template, std::unique_ptr<compute::ForwardBackend> backend,
                     const EngineOptions& options, std::size_t kv_pages)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      chat_template_(chat_template),
      backend_(std::move(backend)),
      context_length_(options.context_length),
      max_batch_(static_cast<std::size_t>(options.max_batch)),
      max_queue_(options.max_queue),
      pages_(kv_pages, static_cast<std::size_t>(options.max_batch)),
      slot_used_(static_cast<std::size_t>(options.max_batch), false),
      logits_(backend_->samples_on_device() ? 0 : backend_->max_logit_rows() * static_cast<std::size_t>(model_->config.n_vocab)) {
  end_tokens_ = tokenizer_->end_of_turn_tokens();
  if (tokenizer_->eos() >= 0) end_tokens_.push_back(tokenizer_->eos());
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::variant<std::shared_ptr<GenerationHandle>, std::string> Scheduler::submit(GenerationRequest request,
                                                                               GenerationEvents events) {
  if (std::string problem = check_sampling(request.sampling); !problem.empty())
    return std::string(kInvalidPrefix) + problem;
  Pending pending;
  if (request.prompt) {
    // Raw completion text is untrusted: it cannot spell special tokens.
    pending.prompt = tokenizer_->encode(*request.prompt, tokenizer_->add_bos_by_default(), false);
  } else {
    if (request.messages.empty()) return std::string(kInvalidPrefix) + "no messages and no prompt";
    if (auto why = chat_template_.refusal(request.messages)) return std::string(kInvalidPrefix) + *why;
    pending.prompt = encode_chat(*tokenizer_, chat_template_, request.messages);
    // A chat answer is a text of its own: SentencePiece's space before its first word ("▁Hello" after
    // "[/INST]") is dropped, as decoding the generated ids as one sequence drops it. A completion
    // keeps it: it is the space between the prompt's last word and the next.
    pending.drop_leading_space = tokenizer_->strips_leading_space();
  }
  if (pending.prompt.empty()) return std::string(kInvalidPrefix) + "the prompt is empty";
  const std::size_t prompt_tokens = pending.prompt.size();
  if (prompt_tokens >= static_cast<std::size_t>(context_length_))
    return std::string(kContextPrefix) + "the prompt is " + std::to_string(prompt_tokens) +
           " tokens; the model's context holds " + std::to_string(context_length_) +
           " including the reply";
  const std::size_t room = static_cast<std::size_t>(context_length_) - prompt_tokens;
  pending.sampling = std::move(request.sampling);
  pending.sampling.max_tokens = static_cast<int>(
      std::min<std::size_t>(room, static_cast<std::size_t>(pending.sampling.max_tokens.value_or(context_length_))));
  // The last sampled token is never fed back, so prompt + max_tokens - 1 positions suffice.
  pending.pages_needed = compute::KvPageTable::pages_for_tokens(
      prompt_tokens + static_cast<std::size_t>(*pending.sampling.max_tokens) - 1);
  pending.events = std::move(events);
  pending.handle = std::make_shared<GenerationHandle>();
  std::shared_ptr<GenerationHandle> handle = pending.handle;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return std::string(kBusyPrefix) + "the engine is shutting down";
    // Requests that arrived during a step sit in queue_ until the next admission even when slots are
    // free: only those beyond the free slots are waiting for one, and only they count against max_queue.
    const std::size_t free_slots = max_batch_ - std::min(active_count_, max_batch_);
    const std::size_t queued = waiting_locked();
    const std::size_t waiting = queued - std::min(queued, free_slots);
    if (waiting >= max_queue_)
      return std::string(kBusyPrefix) + std::to_string(waiting) + " requests are already waiting";
    queue_.push_back(std::move(pending));
  }
  wake_.notify_all();
  return handle;
}

EngineStats Scheduler::stats() const {
  EngineStats s;
  std::lock_guard lock(mutex_);
  // A cancelled request still in queue_ (its client left during a step) is no longer waiting: it is
  // withdrawn before the next admission, and counted neither here nor against max_queue meanwhile.
  s.queue_depth = waiting_locked();
  s.active_sequences = active_count_;
  s.kv_cache_used_fraction =
      pages_.total_pages() ? static_cast<double>(pages_in_use_) / static_cast<double>(pages_.total_pages()) : 0.0;
  // The steps that ended in the last window: the tokens of all but the first, over the time from
  // the first to now (the first step's tokens were made before it ended). So the rate falls to zero
  // once the engine goes idle, instead of keeping its last busy value.
  const auto now = std::chrono::steady_clock::now();
  std::size_t steps = 0;
  std::size_t tokens = 0;
  std::chrono::steady_clock::time_point first{};
  for (const auto& [when, count] : recent_tokens_) {
    if (now - when > kThroughputWindow) continue;
    if (steps++ == 0) first = when;
    else tokens += count;
  }
  const double seconds = std::chrono::duration<double>(now - first).count();
  if (steps == 1) s.tokens_per_second = static_cast<double>(recent_tokens_.back().second) /
                                        std::chrono::duration<double>(kThroughputWindow).count();
  else if (steps > 1 && seconds > 0) s.tokens_per_second = static_cast<double>(tokens) / seconds;
  s.gpu_memory_used_bytes = backend_->device_memory_used_bytes();
  s.device = backend_->device_name();
  return s;
}

std::size_t Scheduler::waiting_locked() const {
  return static_cast<std::size_t>(
      std::count_if(queue_.begin(), queue_.end(), [](const Pending& p) { return !p.handle->cancelled(); }));
}

void Scheduler::note_generated(std::size_t tokens) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  recent_tokens_.emplace_back(now, tokens);
  while (!recent_tokens_.empty() && now - recent_tokens_.front().first > kThroughputWindow)
    recent_tokens_.pop_front();
}

void Scheduler::publish_occupancy() {
  std::lock_guard lock(mutex_);
  active_count_ = active_.size();
  pages_in_use_ = pages_.pages_in_use();
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_) break;
    }
    admit_waiting();
    if (!active_.empty()) run_step();
    retire_finished();
  }
  // Shutdown: everything still running or waiting ends as cancelled, on this thread.
  for (auto& seq : active_)
    if (!seq->finished) finish(*seq, FinishReason::cancelled);
  retire_finished();
  std::deque<Pending> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(queue_);
  }
  for (Pending& p : waiting) deliver(p.events.on_finish, FinishReason::cancelled, Usage{static_cast<int>(p.prompt.size()), 0});
}

void Scheduler::admit_waiting() {
  std::vector<Pending> withdrawn;
  std::unique_lock lock(mutex_);
  // Cancelled requests leave the queue wherever they are in it, not only at its front: one behind a
  // live request would otherwise wait, counted as queued, until every request ahead was admitted.
  const auto cancelled = [](const Pending& p) { return p.handle->cancelled(); };
  if (std::any_of(queue_.begin(), queue_.end(), cancelled)) {
    const auto live_end = std::stable_partition(queue_.begin(), queue_.end(), std::not_fn(cancelled));
    std::move(live_end, queue_.end(), std::back_inserter(withdrawn));
    queue_.erase(live_end, queue_.end());
  }
  while (!queue_.empty()) {
    Pending& front = queue_.front();
    if (active_.size() >= max_batch_) break;
    const std::size_t slot = static_cast<std::size_t>(std::find(slot_used_.begin(), slot_used_.end(), false) - slot_used_.begin());
    // First come, first served: a request that does not fit yet waits for pages to free up.
    if (!pages_.reserve(slot, front.pages_needed)) break;
    slot_used_[slot] = true;
    compute::SamplerSettings settings{front.sampling.temperature, front.sampling.top_p, front.sampling.top_k,
                                      front.sampling.seed};
    compute::TextStream text(front.sampling.stop, front.drop_leading_space);
    active_.push_back(std::make_unique<Sequence>(
        Sequence{std::move(front), slot, 0, 0, 0, compute::Sampler(settings), std::move(text)}));
    queue_.pop_front();
  }
  active_count_ = active_.size();
  lock.unlock();
  // Callbacks run without the lock: they may call stats() or submit().
  for (Pending& p : withdrawn)
    deliver(p.events.on_finish, FinishReason::cancelled, Usage{static_cast<int>(p.prompt.size()), 0});
}

void Scheduler::run_step() {
  step_tokens_.clear();
  logit_owners_.clear();
  std::size_t budget = backend_->max_step_tokens();
  // Decoding sequences go first so that a long prompt arriving never stalls running streams.
  for (auto& seq : active_) {
    if (seq->request.handle->cancelled() && !seq->finished) finish(*seq, FinishReason::cancelled);
    if (seq->finished) continue;
    if (seq->kv_len < seq->request.prompt.size() || budget == 0) continue;
    step_tokens_.push_back({seq->next_input, static_cast<std::int32_t>(seq->kv_len), static_cast<std::int32_t>(seq->slot), true});
    logit_owners_.push_back(seq.get());
    --budget;
  }
  for (auto& seq : active_) {
    const std::size_t prompt = seq->request.prompt.size();
    if (seq->finished || seq->kv_len >= prompt || budget == 0) continue;
    const std::size_t n = std::min(budget, prompt - seq->kv_len);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t pos = seq->kv_len + i;
      const bool last = pos + 1 == prompt;
      step_tokens_.push_back({seq->request.prompt[pos], static_cast<std::int32_t>(pos), static_cast<std::int32_t>(seq->slot), last});
      if (last) logit_owners_.push_back(seq.get());
    }
    budget -= n;
  }
  if (step_tokens_.empty()) return;

  std::vector<std::span<const std::int32_t>> tables(slot_used_.size());
  for (auto& seq : active_) {
    std::size_t fed = 0;
    for (const compute::StepToken& t : step_tokens_) fed += static_cast<std::size_t>(t.slot) == seq->slot;
    seq->kv_len += fed;
    if (fed > 0) pages_.grow(seq->slot, seq->kv_len);
  }
  for (std::size_t slot = 0; slot < slot_used_.size(); ++slot) tables[slot] = pages_.pages(slot);
  publish_occupancy();

  try {
    if (backend_->samples_on_device()) {
      row_sampling_.clear();
      for (Sequence* seq : logit_owners_) {
        const compute::SamplerSettings& settings = seq->sampler.settings();
        row_sampling_.push_back({settings.temperature, settings.top_k, settings.top_p, seq->sampler.next_uniform()});
      }
      sampled_.resize(logit_owners_.size());
      backend_->forward_and_sample(step_tokens_, tables, row_sampling_, sampled_.data());
    } else {
      backend_->forward(step_tokens_, tables, logits_.data());
      const std::size_t vocab = static_cast<std::size_t>(model_->config.n_vocab);
      sampled_.clear();
      for (std::size_t row = 0; row < logit_owners_.size(); ++row)
        sampled_.push_back(logit_owners_[row]->sampler.sample(std::span<const float>(logits_.data() + row * vocab, vocab)));
    }
  } catch (const std::exception&) {
    // A device failure (e.g. a lost GPU) ends every running sequence, fed in this step or not: their
    // KV cache is on the device that failed. Queued requests are untouched; the engine keeps serving.
    for (auto& seq : active_)
      if (!seq->finished) finish(*seq, FinishReason::error);
    return;
  }
  for (std::size_t row = 0; row < logit_owners_.size(); ++row) {
    Sequence& seq = *logit_owners_[row];
    // kNonFiniteLogits, or any other id outside the vocabulary: nothing sampled from this row is a token.
    if (sampled_[row] < 0 || sampled_[row] >= model_->config.n_vocab) {
      seq.request.handle->failure_ = std::string(kNumericalFaultPrefix) +
                                     "the model produced non-finite logits (NaN or infinity) at position " +
                                     std::to_string(seq.kv_len) + "; its weights are likely corrupt";
      finish(seq, FinishReason::error);
      continue;
    }
    accept_token(seq, sampled_[row]);
  }
  note_generated(logit_owners_.size());
}

void Scheduler::accept_token(Sequence& seq, std::int32_t token) {
  if (std::find(end_tokens_.begin(), end_tokens_.end(), token) != end_tokens_.end()) {
    finish(seq, FinishReason::stop);
    return;
  }
  ++seq.generated;
  compute::TextStream::Output out = seq.text.push(tokenizer_->decode_token(token));
  if (!out.text.empty() && !deliver(seq.request.events.on_text, std::string_view(out.text))) {
    finish(seq, FinishReason::error);
    return;
  }
  if (out.stopped) {
    finish(seq, FinishReason::stop);
  } else if (seq.generated >= *seq.request.sampling.max_tokens) {
    finish(seq, FinishReason::length);
  } else {
    seq.next_input = token;
  }
}

void Scheduler::finish(Sequence& seq, FinishReason reason) {
  if (reason == FinishReason::stop || reason == FinishReason::length) {
    const std::string rest = seq.text.finish();
    if (!rest.empty() && !deliver(seq.request.events.on_text, std::string_view(rest))) reason = FinishReason::error;
  }
  deliver(seq.request.events.on_finish, reason,
          Usage{static_cast<int>(seq.request.prompt.size()), seq.generated});
  seq.request.events = {};
  seq.finished = true;
}

void Scheduler::retire_finished() {
  const auto done = [](const std::unique_ptr<Sequence>& seq) { return seq->finished; };
  for (auto& seq : active_)
    if (done(seq)) {
      pages_.release(seq->slot);
      slot_used_[seq->slot] = false;
    }
  active_.erase(std::remove_if(active_.begin(), active_.end(), done), active_.end());
  publish_occupancy();
}

}  // namespace sovereign::accel
