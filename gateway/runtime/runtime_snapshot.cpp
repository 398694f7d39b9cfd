#include "gateway/runtime/runtime_snapshot.hpp"

#include "gateway/runtime/config_check.hpp"

#include <sys/stat.h>

#include "gateway/log/access_log.hpp"
#include "gateway/runtime/policy_file.hpp"

namespace sovereign::gateway {

RuntimeSnapshot::RuntimeSnapshot(std::shared_ptr<const GatewayConfig> cfg, const RuntimeSnapshot* previous,
                                 unsigned workers)
    : config(std::move(cfg)),
      tenants(config->tenants),
      rate_limiter(config->tenants, previous ? &previous->rate_limiter : nullptr),
      egress_guard(config->boundary) {
  for (unsigned i = 0; i < workers; ++i) pools.push_back(std::make_unique<ConnectionPool>());
}

namespace {

// The file behind a path as it is now: a model replaced by renaming a new file over the old one (as
// docs/MODELS.md recommends) or rewritten in place gets a new identity, so a reload loads it anew
// instead of serving the engine of the old file. Empty when the file cannot be examined (the load
// then reports why).
std::string file_identity(const std::filesystem::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return {};
  return std::to_string(info.st_dev) + ':' + std::to_string(info.st_ino) + ':' + std::to_string(info.st_size) + ':' +
         std::to_string(info.st_mtim.tv_sec) + '.' + std::to_string(info.st_mtim.tv_nsec);
}

std::string engine_key(const BackendConfig& backend) {
  return backend.model_file.string() + '\x1f' + file_identity(backend.model_file) + '\x1f' + backend.device + '\x1f' +
         std::to_string(backend.context_length) + '\x1f' + std::to_string(backend.max_batch) + '\x1f' +
         std::to_string(backend.max_queue) + '\x1f' + std::to_string(backend.threads) + '\x1f' +
         std::to_string(backend.kv_cache_tokens) + '\x1f' + (backend.f16_weight_copies ? "copies" : "no-copies");
}

}  // namespace

accel::EngineOptions engine_options(const BackendConfig& backend) {
  accel::EngineOptions options;
  options.model_file = backend.model_file;
  options.device = backend.device;
  options.context_length = backend.context_length;
  options.max_batch = backend.max_batch;
  options.max_queue = static_cast<std::size_t>(backend.max_queue);
  options.threads = backend.threads;
  options.kv_cache_tokens = static_cast<std::size_t>(backend.kv_cache_tokens);
  options.f16_weight_copies = backend.f16_weight_copies;
  return options;
}

std::string model_file_problem(const GatewayConfig& config, std::size_t backend, const std::string& error,
                               std::string_view option) {
  // The engine's option names are the backend's setting names (context_length, device, max_batch, ...);
  // a setting left to its default has no line of its own, and the model it does not fit is blamed.
  std::string setting = setting_path("backends", backend, option);
  if (option.empty() || !config.positions.contains(setting)) setting = setting_path("backends", backend, "model_file");
  return config.problem_at(setting,
                           "backend '" + config.backends[backend].name + "': " + error);
}

std::variant<std::shared_ptr<accel::Engine>, std::string> EngineRegistry::engine_for(const BackendConfig& backend,
                                                                                      std::string* option_at_fault) {
  auto key = engine_key(backend);
  if (auto it = engines_.find(key); it != engines_.end()) return it->second;
  auto loaded = accel::Engine::load(engine_options(backend), option_at_fault);
  if (auto* error = std::get_if<std::string>(&loaded)) return *error;
  std::shared_ptr<accel::Engine> engine = std::move(std::get<std::unique_ptr<accel::Engine>>(loaded));
  // Once per load: the documented fallback serves, but the operator learns the model may be prompted wrongly.
  if (std::string note = engine->chat_template().fallback_note(); !note.empty())
    log_event("warn", "chat_template_fallback",
              "backend '" + backend.name + "' model " + backend.model_file.string() + ": " + note);
  engines_[key] = engine;
  return engine;
}

void EngineRegistry::release_unused() {
  std::erase_if(engines_, [](const auto& entry) { return entry.second.use_count() == 1; });
}

std::variant<std::shared_ptr<RuntimeSnapshot>, std::vector<std::string>> build_snapshot(
    std::shared_ptr<const GatewayConfig> config, const RuntimeSnapshot* previous, unsigned workers,
    GatewayMetrics& metrics, EngineRegistry& engines, const std::string* policy_text) {
  auto snapshot = std::make_shared<RuntimeSnapshot>(std::move(config), previous, workers);
  std::vector<std::string> errors;
  snapshot->backends = build_backend_states(*snapshot->config, snapshot->egress_guard, metrics, errors,
                                            previous ? &previous->backends : nullptr);
  snapshot->routes = ModelRoutes(*snapshot->config, snapshot->backends);
  for (const BackendConfig& backend : snapshot->config->backends)
    snapshot->request_series.push_back(metrics.request_series(backend.name));
  if (const auto& file = snapshot->config->policy_file) {
    std::string problem;
    std::optional<std::string> read;
    if (policy_text == nullptr && (read = read_policy_file(*snapshot->config, problem))) policy_text = &*read;
    if (policy_text == nullptr) {
      errors.push_back(std::move(problem));
    } else {
      auto loaded = policy::load_policy_text(*policy_text, file->string());
      for (const auto& d : loaded.diagnostics)
        if (!loaded.policy) errors.push_back(d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message);
      snapshot->policy = loaded.policy;
      if (loaded.policy)
        for (auto& found : check_capture_settings(*snapshot->config, loaded.policy->model())) errors.push_back(std::move(found));
    }
  }
  const GatewayConfig& settings = *snapshot->config;
  for (std::size_t i = 0; i < settings.backends.size(); ++i) {
    const BackendConfig& backend = settings.backends[i];
    if (backend.type != BackendType::local) continue;
    std::string option_at_fault;
    auto engine = engines.engine_for(backend, &option_at_fault);
    if (auto* error = std::get_if<std::string>(&engine))
      errors.push_back(model_file_problem(settings, i, *error, option_at_fault));
    else snapshot->engines[backend.name] = std::get<std::shared_ptr<accel::Engine>>(engine);
  }
  if (!errors.empty()) return errors;
  return snapshot;
}

}  // namespace sovereign::gateway
