#include "gateway/upstream/backend_state.hpp"

#include "crypto/tls_context.hpp"
#include "gateway/upstream/backend_credentials.hpp"

namespace sovereign::gateway {
namespace {

std::int64_t ticks(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

const std::string& tls_name_of(const BackendConfig& backend, const ReplicaConfig& replica) {
  return backend.tls && !backend.tls->server_name.empty() ? backend.tls->server_name : replica.host;
}

std::string make_host_header(const BackendConfig& backend, const ReplicaConfig& replica) {
  std::string host = tls_name_of(backend, replica);
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  bool default_port = (replica.https && replica.port == 443) || (!replica.https && replica.port == 80);
  return default_port ? host : host + ":" + std::to_string(replica.port);
}

const ReplicaState* find_replica(const std::vector<std::unique_ptr<BackendState>>& backends, const std::string& name,
                                 const std::string& url) {
  for (const auto& backend : backends) {
    if (backend->config->name != name) continue;
    for (const auto& replica : backend->replicas)
      if (replica->config().url == url) return replica.get();
  }
  return nullptr;
}

}  // namespace

ReplicaState::ReplicaState(const BackendConfig& backend, const ReplicaConfig& config,
                           std::shared_ptr<ReplicaHealth> learnt)
    : backend_(backend),
      config_(config),
      host_header_(make_host_header(backend, config)),
      health_(learnt ? std::move(learnt) : std::make_shared<ReplicaHealth>()) {}

const std::string& ReplicaState::tls_name() const { return tls_name_of(backend_, config_); }

bool ReplicaState::circuit_open(std::chrono::steady_clock::time_point now) const {
  return health_->circuit_open_until.load(std::memory_order_relaxed) > ticks(now);
}

bool ReplicaState::admit(std::chrono::steady_clock::time_point now) {
  auto until = health_->circuit_open_until.load(std::memory_order_relaxed);
  if (until == 0) return true;
  if (until > ticks(now)) return false;
  // Half-open: of the requests that find it so, the one that moves the deadline is the trial.
  return health_->circuit_open_until.compare_exchange_strong(until, ticks(now + backend_.circuit_breaker.open_for),
                                                             std::memory_order_relaxed);
}

void ReplicaState::record_success() {
  health_->request_failures.store(0, std::memory_order_relaxed);
  if (health_->circuit_open_until.load(std::memory_order_relaxed) != 0)
    health_->circuit_open_until.store(0, std::memory_order_relaxed);
}

void ReplicaState::record_failure(std::chrono::steady_clock::time_point now) {
  auto failures = health_->request_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  // Once open, every further failure (including the trial request after open_ms) re-opens it.
  if (failures >= backend_.circuit_breaker.failures)
    health_->circuit_open_until.store(ticks(now + backend_.circuit_breaker.open_for), std::memory_order_relaxed);
}

bool ReplicaState::record_check(bool passed) {
  const auto& check = backend_.health_check;
  if (passed) {
    health_->check_failures.store(0, std::memory_order_relaxed);
    auto successes = health_->check_successes.fetch_add(1, std::memory_order_relaxed) + 1;
    if (!healthy() && successes >= check.healthy_after) {
      health_->healthy.store(true, std::memory_order_relaxed);
      health_->request_failures.store(0, std::memory_order_relaxed);
      health_->circuit_open_until.store(0, std::memory_order_relaxed);
      return true;
    }
    return false;
  }
  health_->check_successes.store(0, std::memory_order_relaxed);
  auto failures = health_->check_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (healthy() && failures >= check.unhealthy_after) {
    health_->healthy.store(false, std::memory_order_relaxed);
    return true;
  }
  return false;
}

std::string ReplicaState::unresolved_reason() const {
  std::lock_guard lock(unresolved_reason_mutex_);
  return unresolved_reason_;
}

std::string ReplicaState::unresolved_report() const {
  return "backend '" + backend_.name + "' replica " + config_.url + ": " + unresolved_reason() +
         "; the gateway resolves it again every " + std::to_string(backend_.health_check.interval.count()) + " ms";
}

bool ReplicaState::apply(Pinning pinning) {
  if (this->pinning() != Pinning::Status::unresolved) return false;
  switch (pinning.status) {
    case Pinning::Status::unresolved: {
      std::lock_guard lock(unresolved_reason_mutex_);
      unresolved_reason_ = std::move(pinning.why);
      return false;
    }
    case Pinning::Status::refused:
      refusal_ = std::move(pinning.why);
      break;
    case Pinning::Status::pinned:
      endpoints_ = std::move(pinning.endpoints);
      break;
  }
  // Release: a worker that sees the new status sees the addresses or the refusal written above.
  pinning_.store(pinning.status, std::memory_order_release);
  return true;
}

std::vector<std::unique_ptr<BackendState>> build_backend_states(
    const GatewayConfig& config, const EgressGuard& guard, GatewayMetrics& metrics, std::vector<std::string>& errors,
    const std::vector<std::unique_ptr<BackendState>>* previous) {
  std::vector<std::unique_ptr<BackendState>> states;
  for (std::size_t i = 0; i < config.backends.size(); ++i) {
    const BackendConfig& backend = config.backends[i];
    if (backend.type != BackendType::openai) continue;
    auto state = std::make_unique<BackendState>();
    state->config = &backend;
    state->series = metrics.backend_series(backend.name);
    if (backend.tls) {
      auto made = crypto::make_client_context({backend.tls->ca, backend.tls->client_certificate, backend.tls->client_key});
      if (auto* error = std::get_if<crypto::TlsError>(&made)) {
        errors.push_back(config.problem_at(setting_path("backends", i, "tls", error->setting),
                                           "backend '" + backend.name + "': " + error->message));
        continue;
      }
      state->tls = std::make_shared<boost::asio::ssl::context>(std::get<crypto::SslCtxPtr>(made).release());
    }
    if (!backend.api_key_file.empty()) {
      crypto::Result<std::string> authorization = read_backend_authorization(backend.api_key_file);
      if (!authorization) {
        errors.push_back(config.problem_at(setting_path("backends", i, "api_key_file"),
                                           "backend '" + backend.name + "': " + authorization.error().message));
        continue;
      }
      state->authorization = std::move(authorization.value());
    }
    for (const auto& replica : backend.replicas) {
      const ReplicaState* before = previous ? find_replica(*previous, backend.name, replica.url) : nullptr;
      auto replica_state = std::make_unique<ReplicaState>(backend, replica, before ? before->learnt() : nullptr);
      replica_state->series = metrics.replica_series(backend.name, replica.url);
      replica_state->idle_gauge = &state->series->idle_connections;
      replica_state->dropped_unexpected_bytes = &state->series->dropped_unexpected_bytes;
      replica_state->dropped_closed = &state->series->dropped_closed;
      // An IP address is checked now; a name is looked up later, off this thread (resolve_replica_names).
      boost::system::error_code not_numeric;
      boost::asio::ip::make_address(replica.host, not_numeric);
      if (!not_numeric)
        replica_state->apply(guard.resolve_and_pin(replica.host, replica.port, !replica.https && backend.loopback));
      state->replicas.push_back(std::move(replica_state));
    }
    states.push_back(std::move(state));
  }
  return states;
}

void resolve_replica_names(HostLookups& lookups, const EgressGuard& guard,
                           std::vector<std::unique_ptr<BackendState>>& backends, std::chrono::milliseconds limit,
                           std::function<void()> done) {
  // Shared by the lookups under way: the last to settle calls `done`.
  struct Outstanding {
    std::size_t count = 1;  // one for the loop below, so that `done` cannot run before it ends
    std::function<void()> done;
    void settled() {
      if (--count == 0) done();
    }
  };
  auto outstanding = std::make_shared<Outstanding>();
  outstanding->done = std::move(done);
  for (auto& backend : backends)
    for (auto& replica : backend->replicas) {
      if (replica->pinning() != Pinning::Status::unresolved) continue;
      ++outstanding->count;
      const ReplicaConfig& config = replica->config();
      const bool loopback_only = !config.https && backend->config->loopback;
      lookups.lookup(config.host, config.port, limit,
                     [outstanding, &guard, state = replica.get(), loopback_only](LookupAnswer answer) {
                       const std::string& host = state->config().host;
                       state->apply(answer.error.empty() ? guard.pin(host, answer.endpoints, loopback_only)
                                                         : EgressGuard::unresolved(host, answer.error));
                       outstanding->settled();
                     });
    }
  outstanding->settled();
}

void resolve_replica_names_now(const EgressGuard& guard, std::vector<std::unique_ptr<BackendState>>& backends,
                               std::chrono::milliseconds limit) {
  boost::asio::io_context io;
  HostLookups lookups(io);
  resolve_replica_names(lookups, guard, backends, limit, [] {});
  io.run();  // until every lookup has answered or passed its limit
}

}  // namespace sovereign::gateway
