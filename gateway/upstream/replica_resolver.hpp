#pragma once
// Resolves again the host name of a replica that did not resolve when its configuration was loaded
// (resolver failure, unknown name, timeout), every health_check.interval_ms, until it does; then the
// egress guard checks every address and pins them exactly as at load. A DNS failure is not an egress
// refusal: it has its own log event (backend_unresolved) and series (sovereign_upstream_unresolved,
// sovereign_upstream_resolution_failures_total). Runs on the control io_context; the lookups
// themselves run on threads of their own (HostLookups), so neither a worker nor the control thread
// ever waits on DNS, nor does shutdown wait for a lookup stuck in glibc, and each attempt is given
// at most `attempt_timeout`.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/runtime/runtime_snapshot.hpp"
#include "gateway/upstream/host_lookups.hpp"

namespace sovereign::gateway {

class ReplicaResolver : public std::enable_shared_from_this<ReplicaResolver> {
 public:
  // A lookup that has not answered by then counts as failed (glibc's own DNS timeout is 5 s a try).
  static constexpr std::chrono::milliseconds attempt_timeout = HostLookups::default_limit;

  // `pinned` is called once the name resolved to addresses the guard pinned.
  // `lookups` hands its answers over on `io` and outlives this resolver.
  ReplicaResolver(boost::asio::io_context& io, HostLookups& lookups, std::shared_ptr<RuntimeSnapshot> snapshot,
                  BackendState& backend, ReplicaState& replica, std::function<void()> pinned);

  // Reports the failure found at load (log, series) and schedules the next attempt.
  void start();
  void stop();

  // The egress_refused log line of a replica whose addresses the guard refused (at load or later).
  static void log_refusal(const BackendState& backend, const ReplicaState& replica);

 private:
  void schedule();
  void attempt();
  void settle(Pinning pinning);  // what the attempt under way found
  void failed(const std::string& reason);

  HostLookups& lookups_;
  std::shared_ptr<RuntimeSnapshot> snapshot_;  // keeps the guard, backend and replica alive
  BackendState& backend_;
  ReplicaState& replica_;
  std::function<void()> pinned_;
  boost::asio::steady_timer next_attempt_;
  std::uint64_t attempt_ = 0;  // the attempt under way; answers of an earlier one are ignored
  std::string logged_reason_;  // the failure last logged: a reason that changes is logged again
  bool stopped_ = false;
};

}  // namespace sovereign::gateway
