#include "gateway/runtime/config_check.hpp"

#include <unistd.h>

#include <system_error>
#include <thread>

#include "crypto/file_io.hpp"
#include "crypto/key_file.hpp"
#include "crypto/sealed_capture.hpp"

#include "accel/compute/engine.hpp"
#include "gateway/config/policy_backends.hpp"
#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/runtime/listener_tls.hpp"
#include "gateway/runtime/policy_file.hpp"
#include "gateway/runtime/runtime_snapshot.hpp"
#include "gateway/upstream/backend_state.hpp"
#include "gateway/upstream/egress_guard.hpp"
#include "policy/diagnostic.hpp"
#include "policy/lint.hpp"

namespace sovereign::gateway {
namespace {

namespace fs = std::filesystem;

// A directory serve creates if it is missing: it must be one if it exists, else the nearest
// directory above it must be one the gateway can write in.
std::string directory_problem(const fs::path& directory) {
  std::error_code ec;
  if (fs::exists(directory, ec)) {
    if (!fs::is_directory(directory, ec)) return "'" + directory.string() + "' exists and is not a directory";
    if (::access(directory.c_str(), W_OK | X_OK) != 0) return "cannot write in '" + directory.string() + "'";
    return {};
  }
  fs::path above = directory.parent_path();
  while (!above.empty() && !fs::exists(above, ec)) above = above.parent_path();
  if (above.empty()) above = ".";
  if (!fs::is_directory(above, ec)) return "cannot create '" + directory.string() + "': '" + above.string() + "' is not a directory";
  if (::access(above.c_str(), W_OK | X_OK) != 0)
    return "cannot create '" + directory.string() + "': no permission to write in '" + above.string() + "'";
  return {};
}

// A file serve opens for appending (and creates if missing).
std::string appendable_file_problem(const fs::path& file) {
  std::error_code ec;
  if (fs::exists(file, ec)) {
    if (!fs::is_regular_file(file, ec)) return "'" + file.string() + "' is not a regular file";
    if (::access(file.c_str(), W_OK) != 0) return "cannot write to '" + file.string() + "'";
    return {};
  }
  const fs::path directory = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  if (!fs::is_directory(directory, ec)) return "cannot create '" + file.string() + "': no directory '" + directory.string() + "'";
  if (::access(directory.c_str(), W_OK | X_OK) != 0)
    return "cannot create '" + file.string() + "': no permission to write in '" + directory.string() + "'";
  return {};
}

// What serve would refuse in a secret key file, short of a passphrase: permissions, format, kind,
// the shape of every field, and for an unprotected key the key itself (its length, its key-id).
std::string secret_key_problem(const fs::path& path, crypto::KeyKind kind) {
  if (auto permissions = crypto::check_secret_key_permissions(path, kind); !permissions)
    return permissions.error().message;
  auto metadata = crypto::read_key_metadata(path);
  if (!metadata) return metadata.error().message;
  if (metadata->kind != kind)
    return path.string() + " holds the " + std::string(crypto::key_kind_name(metadata->kind)) + " key, not the " +
           std::string(crypto::key_kind_name(kind)) + " key";
  if (auto checked = crypto::check_secret_key_file(path, kind); !checked) return checked.error().message;
  return {};
}

// A problem of the file `setting` names, placed where that setting was written.
void add(std::vector<std::string>& problems, const GatewayConfig& config, const std::string& setting,
         const std::string& problem) {
  if (!problem.empty()) problems.push_back(config.problem_at(setting, setting + ": " + problem));
}

}  // namespace

std::vector<std::string> check_opened_files(const GatewayConfig& config) {
  std::vector<std::string> problems;
  if (config.access_log.target == AccessLogTarget::file)
    add(problems, config, "access_log", appendable_file_problem(config.access_log.file));
  if (const auto& audit = config.audit) {
    add(problems, config, "audit.directory", directory_problem(audit->directory));
    add(problems, config, "audit.signing_key", secret_key_problem(audit->signing_key, crypto::KeyKind::audit_signing));
    if (!audit->auditor_public_key.empty()) {
      auto key = crypto::read_auditor_public_key(audit->auditor_public_key);
      add(problems, config, "audit.auditor_public_key", key ? std::string() : key.error().message);
    }
  }
  if (const auto& vault = config.vault) {
    add(problems, config, "vault.key", secret_key_problem(vault->key, crypto::KeyKind::vault));
    if (!vault->directory.empty()) add(problems, config, "vault.directory", directory_problem(vault->directory));
  }
  return problems;
}

std::vector<std::string> check_capture_settings(const GatewayConfig& config, const policy::PolicyModel& policy) {
  std::string asks;  // the first place of the policy that asks for captures
  // Warn and dry-run rules capture nothing (they only log and record what they would do).
  for (const auto& rule : policy.rules)
    if (rule.capture_payload && rule.mode == policy::RuleMode::enforce && asks.empty())
      asks = "rule '" + rule.name + "' (" + policy.file_label + ":" + std::to_string(rule.line) + ":" +
             std::to_string(rule.column) + ")";
  for (const auto& tenant : policy.tenants)
    if (tenant.capture_payload && asks.empty())
      asks = "tenant '" + tenant.name + "' (" + policy.file_label + ":" + std::to_string(tenant.line) + ":" +
             std::to_string(tenant.column) + ")";
  if (asks.empty() || (config.audit && !config.audit->auditor_public_key.empty())) return {};
  const std::string fix = "; set audit.auditor_public_key to the auditors' public keyring (keys init writes "
                          "auditor.pub), or take capture_payload out of the policy";
  if (!config.audit)
    return {config.problem_at("policy", "policy: " + asks + " asks for capture_payload, but gateway.yaml has no " +
                                            "audit section, so no capture could be sealed and none would be recorded" + fix)};
  return {config.problem_at("audit", "audit: the policy's " + asks + " asks for capture_payload, but " +
                                         "audit.auditor_public_key is not set, so no capture could be sealed" + fix)};
}

std::vector<std::string> check_deployment(const GatewayConfig& config, std::vector<std::string>* warnings) {
  std::vector<std::string> problems;

  ListenerTlsContexts listener_tls;
  if (std::string error; !make_listener_tls(config, listener_tls, error)) problems.push_back(error);

  GatewayMetrics scratch_metrics;  // build_backend_states counts into one; nothing serves it here
  const EgressGuard guard(config.boundary);
  auto backends = build_backend_states(config, guard, scratch_metrics, problems);
  resolve_replica_names_now(guard, backends);
  for (const auto& backend : backends) {
    const auto index = static_cast<std::size_t>(backend->config - config.backends.data());
    for (std::size_t i = 0; i < backend->replicas.size(); ++i) {
      const ReplicaState& replica = *backend->replicas[i];
      const std::string setting = setting_path("backends", index, replica_setting(i));
      if (replica.pinning() == Pinning::Status::refused)
        problems.push_back(config.problem_at(setting, "backend '" + backend->config->name + "' replica " +
                                                          replica.config().url + " would never be used: " +
                                                          replica.refusal()));
      // Advice, not an error: DNS may be down now and answer later; serve retries the name.
      else if (replica.pinning() == Pinning::Status::unresolved && warnings != nullptr)
        warnings->push_back(config.problem_at(setting, "warning: " + replica.unresolved_report() +
                                                           " (serve starts and sends it nothing until it resolves)"));
    }
  }

  for (auto& problem : check_opened_files(config)) problems.push_back(std::move(problem));

  for (std::size_t i = 0; i < config.backends.size(); ++i) {
    const BackendConfig& backend = config.backends[i];
    if (backend.type != BackendType::local) continue;
    // The checks `serve` makes before it allocates the KV cache, worded as `serve` words them.
    std::string option_at_fault;
    if (std::string error = accel::Engine::check(engine_options(backend), &option_at_fault); !error.empty())
      problems.push_back(model_file_problem(config, i, error, option_at_fault));
    // Advice, not an error: more threads than hardware threads share cores and slow every step,
    // and on a machine with a low process limit they may not start at all (serve then refuses).
    const unsigned cores = std::thread::hardware_concurrency();
    if (warnings != nullptr && cores > 0 && backend.threads > static_cast<int>(cores))
      warnings->push_back(config.problem_at(
          setting_path("backends", i, "threads"),
          "warning: backend '" + backend.name + "': threads " + std::to_string(backend.threads) + " exceeds the " +
              std::to_string(cores) + " hardware threads of this machine; the extra threads share cores and slow "
              "every step"));
  }

  if (config.policy_file) {
    const std::vector<policy::BackendInfo> declared = policy_backends(config);
    std::vector<std::string> tenants;
    for (const auto& tenant : config.tenants) tenants.push_back(tenant.name);
    std::string unreadable;
    const auto text = read_policy_file(config, unreadable);
    if (!text) {
      problems.push_back(unreadable);
      return problems;
    }
    for (const auto& finding : policy::lint_policy_file(*config.policy_file, &declared, &tenants)) {
      if (!finding.advisory) problems.push_back(policy::format_diagnostic(finding));
      else if (warnings != nullptr) warnings->push_back(policy::format_diagnostic(finding));
    }
    if (const auto loaded = policy::load_policy_text(*text, config.policy_file->string()); loaded.policy)
      for (auto& problem : check_capture_settings(config, loaded.policy->model())) problems.push_back(std::move(problem));
  }
  return problems;
}

}  // namespace sovereign::gateway
