#pragma once
// Live state of the configured backends, shared by all workers for the life of one configuration
// snapshot: pinned addresses, health, circuit breaker and load, all as atomics.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "gateway/config/gateway_config.hpp"
#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/upstream/egress_guard.hpp"
#include "gateway/upstream/host_lookups.hpp"

namespace sovereign::gateway {

// What requests and health checks have taught the gateway about one replica (by backend name and
// URL): health, the checks counted towards a change of it, and the circuit breaker. The states of
// that replica in consecutive configuration snapshots share one, as the rate limiter shares a
// tenant's budget: what the configuration in force learns while a reload looks up its names (a
// replica that goes down or comes back) is what the reload starts from once installed, and
// requests still finishing on the old configuration count towards the new one's circuit breaker.
struct ReplicaHealth {
  std::atomic<bool> healthy{true};
  std::atomic<std::uint32_t> check_failures{0};
  std::atomic<std::uint32_t> check_successes{0};
  std::atomic<std::uint32_t> request_failures{0};
  std::atomic<std::int64_t> circuit_open_until{0};  // 0: closed; in the past: half-open
  // When unexpected bytes from this replica were last logged (steady clock, seconds; 0: never).
  std::atomic<std::int64_t> unexpected_bytes_logged_s{0};
};

class ReplicaState {
 public:
  // `learnt`: the health of this replica in the configuration a reload replaces; null: a replica
  // new to the configuration, which starts healthy with its circuit closed.
  ReplicaState(const BackendConfig& backend, const ReplicaConfig& config,
               std::shared_ptr<ReplicaHealth> learnt = nullptr);

  const BackendConfig& backend() const { return backend_; }
  const ReplicaConfig& config() const { return config_; }
  // The Host header of requests to this replica: the pinned TLS server name or the host, with
  // the port unless it is the scheme's default.
  const std::string& host_header() const { return host_header_; }
  // The name its TLS certificate must carry (and the SNI): the backend's pinned server_name, or
  // this replica's own host.
  const std::string& tls_name() const;

  // What the egress guard made of its host name. Only an unresolved replica changes (apply, from
  // the control thread); pinned and refused are final for this configuration snapshot.
  Pinning::Status pinning() const { return pinning_.load(std::memory_order_acquire); }
  // The checked addresses: set before pinning() turns pinned, never changed after (read them only then).
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const { return endpoints_; }
  // What the guard refused: set before pinning() turns refused, never changed after.
  const std::string& refusal() const { return refusal_; }
  // While unresolved: why the last resolution failed (the resolver's reason, naming the host).
  std::string unresolved_reason() const;
  // "backend 'B' replica URL: <reason>; resolved again every N ms": the 503 answer's and log's words.
  std::string unresolved_report() const;
  // Takes what a resolution found. Returns true when pinning() changed (the replica is now pinned
  // or refused); an unresolved outcome only updates the reason. A replica already pinned or refused
  // ignores it: its addresses are never resolved again (that would let DNS rebind it).
  bool apply(Pinning pinning);

  bool healthy() const { return health_->healthy.load(std::memory_order_relaxed); }
  // Open: refusing requests for open_ms after the failures. Past that it is half-open: it lets one
  // trial request through (admit), whose success closes it and whose failure opens it again.
  bool circuit_open(std::chrono::steady_clock::time_point now) const;
  bool available(std::chrono::steady_clock::time_point now) const {
    return pinning() == Pinning::Status::pinned && healthy() && !circuit_open(now);
  }
  // Called as a request is about to be sent here: false when the circuit is open, or half-open with
  // its trial request already taken by another. The trial holds the circuit open for another
  // open_ms, so a trial that never ends (its client left) does not keep the replica out for good.
  bool admit(std::chrono::steady_clock::time_point now);

  void record_success();
  void record_failure(std::chrono::steady_clock::time_point now);
  // Returns true when the health state changed.
  bool record_check(bool passed);
  // What this replica has learnt, for its state in the configuration a reload builds (which shares
  // it, so a reload, a saved policy file's too, sends nothing to a replica known to be down).
  const std::shared_ptr<ReplicaHealth>& learnt() const { return health_; }

  std::atomic<std::uint32_t> in_flight{0};
  // Its sovereign_upstream_healthy and sovereign_upstream_unresolved series (see GatewayMetrics::replica_series).
  std::shared_ptr<const GatewayMetrics::ReplicaSeries> series;
  // Within its backend's series (BackendState::series), which outlives it:
  prometheus::Gauge* idle_gauge = nullptr;  // the backend's idle-connection gauge
  // The backend's series of sovereign_upstream_connections_dropped_total: pooled connections
  // closed instead of reused because the backend sent bytes no request asked for, or closed them.
  prometheus::Counter* dropped_unexpected_bytes = nullptr;
  prometheus::Counter* dropped_closed = nullptr;
  // When unexpected bytes from this replica were last logged (steady clock, seconds; 0: never).
  std::atomic<std::int64_t>& unexpected_bytes_logged_s() { return health_->unexpected_bytes_logged_s; }

 private:
  const BackendConfig& backend_;
  const ReplicaConfig& config_;
  const std::string host_header_;
  std::atomic<Pinning::Status> pinning_{Pinning::Status::unresolved};
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::string refusal_;
  mutable std::mutex unresolved_reason_mutex_;  // the control thread writes it as workers report it
  std::string unresolved_reason_;
  std::shared_ptr<ReplicaHealth> health_;  // never null
};

struct BackendState {
  const BackendConfig* config = nullptr;
  std::vector<std::unique_ptr<ReplicaState>> replicas;
  std::shared_ptr<boost::asio::ssl::context> tls;  // for https:// replicas
  // "Bearer KEY" from the backend's api_key_file, sent with each request and health check; empty:
  // no Authorization header. Read again at each reload, so a rotated key is picked up by SIGHUP.
  std::string authorization;
  // Its pool, egress and retry series (see GatewayMetrics::backend_series).
  std::shared_ptr<const GatewayMetrics::BackendSeries> series;
};

// Builds the state of every network backend: pins replicas given by IP address through the guard
// (no DNS involved) and builds TLS contexts. Replicas named by host name are left unresolved, for
// resolve_replica_names to look up. A replica that `previous` (the states of the configuration being
// replaced, or null) has under the same backend name and URL shares its ReplicaHealth. Errors (bad
// CA file...) are returned as FILE:LINE:COL: message at the setting naming the file at fault.
std::vector<std::unique_ptr<BackendState>> build_backend_states(
    const GatewayConfig& config, const EgressGuard& guard, GatewayMetrics& metrics, std::vector<std::string>& errors,
    const std::vector<std::unique_ptr<BackendState>>* previous = nullptr);

// Looks up the host names of the replicas build_backend_states left unresolved, all at once, each
// within `limit` (a lookup past it is a resolution failure, as any other: the replica starts
// unresolved and ReplicaResolver tries again), and applies what the guard makes of each answer.
// `done` runs on the lookups' io_context once every name has settled (at once when there is none);
// it holds whatever keeps `backends` alive until then.
void resolve_replica_names(HostLookups& lookups, const EgressGuard& guard,
                           std::vector<std::unique_ptr<BackendState>>& backends, std::chrono::milliseconds limit,
                           std::function<void()> done);

// The same, waiting for the answers (config check, tests): at most `limit` in all, however many names.
void resolve_replica_names_now(const EgressGuard& guard, std::vector<std::unique_ptr<BackendState>>& backends,
                               std::chrono::milliseconds limit = HostLookups::default_limit);

}  // namespace sovereign::gateway
