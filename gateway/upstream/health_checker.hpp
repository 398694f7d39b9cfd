#pragma once
// Active health checks of every reachable backend replica: GET health_check.path every interval;
// a replica turns unhealthy after `unhealthy_after` consecutive failures and back after `healthy_after`.
// A replica whose host name did not resolve is resolved again every interval (ReplicaResolver) and
// checked once it is pinned.
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/runtime/runtime_snapshot.hpp"

namespace sovereign::gateway {

class HostLookups;
class ReplicaResolver;

class HealthChecker : public std::enable_shared_from_this<HealthChecker> {
 public:
  // `lookups` (answering on `io`) looks up the names of unresolved replicas again; it outlives this.
  HealthChecker(boost::asio::io_context& io, HostLookups& lookups, std::shared_ptr<RuntimeSnapshot> snapshot);
  void start();
  void stop();

 private:
  struct Probe;
  void probe(BackendState& backend, ReplicaState& replica);  // starts checking a pinned replica
  void schedule(std::shared_ptr<Probe> probe, std::chrono::milliseconds delay);
  void check(std::shared_ptr<Probe> probe);
  void read_answer(std::shared_ptr<Probe> probe);  // the check's answer, past any interim 1xx heads
  // `outcome`: what the check found, for the log line when the replica turns unhealthy.
  void report(const std::shared_ptr<Probe>& probe, bool passed, const std::string& outcome);
  std::string failure(const std::shared_ptr<Probe>& probe, const boost::system::error_code& ec) const;

  boost::asio::io_context& io_;
  HostLookups& lookups_;
  std::shared_ptr<RuntimeSnapshot> snapshot_;
  std::vector<std::shared_ptr<Probe>> probes_;
  std::vector<std::shared_ptr<ReplicaResolver>> resolvers_;
  bool stopped_ = false;
};

}  // namespace sovereign::gateway
