#include "accel/compute/engine.hpp"

#include <system_error>

#include "accel/compute/backend_factory.hpp"
#include "accel/compute/model_loader.hpp"
#include "accel/compute/scheduler.hpp"
#include "accel/compute/thread_pool.hpp"

namespace sovereign::accel {
namespace {

constexpr int kMaxBatch = 1024;
// Prompt tokens processed per forward step; bounds activation memory and decode stalls.
constexpr std::size_t kPrefillChunk = 512;

// A problem with the options, and the option it is about.
struct OptionProblem {
  const char* option = "";
  std::string text;
};

OptionProblem check_options(const EngineOptions& o, const compute::ModelConfig& config) {
  if (o.context_length < 2) return {"context_length", "context_length must be at least 2"};
  if (o.context_length > config.trained_context)
    return {"context_length", "context_length " + std::to_string(o.context_length) +
                                  " exceeds the model's trained context of " + std::to_string(config.trained_context) +
                                  " tokens"};
  if (o.max_batch < 1 || o.max_batch > kMaxBatch)
    return {"max_batch", "max_batch must be 1.." + std::to_string(kMaxBatch)};
  if (o.threads < 0 || o.threads > compute::kMaxPoolThreads)
    return {"threads", "threads must be 0.." + std::to_string(compute::kMaxPoolThreads)};
  if (o.max_queue < 1) return {"max_queue", "max_queue must be at least 1"};
  if (o.kv_cache_tokens != 0 && o.kv_cache_tokens < static_cast<std::size_t>(o.context_length))
    return {"kv_cache_tokens", "kv_cache_tokens " + std::to_string(o.kv_cache_tokens) +
                                   " is below context_length " + std::to_string(o.context_length) +
                                   ": a request filling its context could never run"};
  return {};
}

void blame(std::string* option_at_fault, const char* option) {
  if (option_at_fault != nullptr) *option_at_fault = option;
}

}  // namespace

Engine::Engine(std::unique_ptr<Scheduler> scheduler) : scheduler_(std::move(scheduler)) {}

Engine::~Engine() = default;

namespace {

// A model file with everything load() checks before it allocates: configuration, weights, tokenizer.
struct OpenedModel {
  std::unique_ptr<compute::LoadedModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Opens and validates the model; with `options`, also checks them against it. The error names the
// file first; an option at fault is named in `option_at_fault`.
std::variant<OpenedModel, std::string> open_model(const std::filesystem::path& file, const EngineOptions* options,
                                                  std::string* option_at_fault = nullptr) {
  auto loaded = compute::load_model(file);
  if (auto* error = std::get_if<std::string>(&loaded)) return *error;
  std::unique_ptr<compute::LoadedModel> model = std::move(std::get<std::unique_ptr<compute::LoadedModel>>(loaded));
  const std::string where = file.string() + ": ";

  if (options != nullptr)
    if (OptionProblem problem = check_options(*options, model->config); !problem.text.empty()) {
      blame(option_at_fault, problem.option);
      return where + problem.text;
    }

  auto tokenizer = Tokenizer::from_gguf(model->file);
  if (auto* error = std::get_if<std::string>(&tokenizer)) return where + *error;
  std::unique_ptr<Tokenizer> tok = std::move(std::get<std::unique_ptr<Tokenizer>>(tokenizer));
  if (tok->vocab_size() != static_cast<std::size_t>(model->config.n_vocab))
    return where + "the tokenizer has " + std::to_string(tok->vocab_size()) +
           " tokens but token_embd.weight has " + std::to_string(model->config.n_vocab) + " rows";
  return OpenedModel{std::move(model), std::move(tok)};
}

}  // namespace

std::string Engine::check(const EngineOptions& options, std::string* option_at_fault) {
  blame(option_at_fault, "");
  auto opened = open_model(options.model_file, &options, option_at_fault);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  auto device = compute::choose_device(options.device);
  if (auto* error = std::get_if<std::string>(&device)) {
    blame(option_at_fault, "device");
    return options.model_file.string() + ": " + *error;
  }
  return {};
}

std::string Engine::check_model_file(const std::filesystem::path& file) {
  auto opened = open_model(file, nullptr);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  return {};
}

std::variant<std::unique_ptr<Engine>, std::string> Engine::load(const EngineOptions& options,
                                                                std::string* option_at_fault) {
  blame(option_at_fault, "");
  auto opened = open_model(options.model_file, &options, option_at_fault);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  std::unique_ptr<compute::LoadedModel> model = std::move(std::get<OpenedModel>(opened).model);
  std::unique_ptr<Tokenizer> tok = std::move(std::get<OpenedModel>(opened).tokenizer);
  const std::string where = options.model_file.string() + ": ";
  ChatTemplate chat_template = ChatTemplate::from_gguf(model->file);

  compute::BackendPlan plan;
  plan.kv_pages = options.kv_cache_tokens != 0
                      ? compute::KvPageTable::pages_for_tokens(options.kv_cache_tokens)
                      : compute::KvPageTable::pages_for_tokens(static_cast<std::size_t>(options.context_length)) *
                            static_cast<std::size_t>(options.max_batch);
  plan.max_step_tokens = std::max<std::size_t>(kPrefillChunk, static_cast<std::size_t>(options.max_batch));
  plan.max_logit_rows = static_cast<std::size_t>(options.max_batch);
  plan.threads = options.threads;
  plan.keep_expanded_weights = options.f16_weight_copies;
  // Checked apart from make_backend's other failures (memory) so that a missing device is blamed on `device`.
  if (auto device = compute::choose_device(options.device); std::holds_alternative<std::string>(device)) {
    blame(option_at_fault, "device");
    return where + std::get<std::string>(device);
  }
  std::string backend_option;
  auto backend = compute::make_backend(options.device, model->config, model->weights, plan, &backend_option);
  if (auto* error = std::get_if<std::string>(&backend)) {
    blame(option_at_fault, backend_option.c_str());
    return where + *error;
  }

  try {
    auto scheduler = std::make_unique<Scheduler>(std::move(model), std::move(tok), chat_template,
                                                 std::move(std::get<std::unique_ptr<compute::ForwardBackend>>(backend)),
                                                 options, plan.kv_pages);
    return std::unique_ptr<Engine>(new Engine(std::move(scheduler)));
  } catch (const std::system_error& e) {
    // The CPU backend's threads started, but the process has none left for the scheduler's.
    blame(option_at_fault, "threads");
    return where + "cannot start the engine's scheduler thread (" + e.code().message() + "); lower 'threads'";
  }
}

std::variant<std::shared_ptr<GenerationHandle>, std::string> Engine::submit(GenerationRequest request,
                                                                            GenerationEvents events) {
  return scheduler_->submit(std::move(request), std::move(events));
}

EngineStats Engine::stats() const { return scheduler_->stats(); }

std::string_view Engine::model_name() const { return scheduler_->model_name(); }

int Engine::context_length() const { return scheduler_->context_length(); }

const ChatTemplate& Engine::chat_template() const { return scheduler_->chat_template(); }

}  // namespace sovereign::accel
