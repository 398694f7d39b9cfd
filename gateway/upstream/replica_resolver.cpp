#include "gateway/upstream/replica_resolver.hpp"

#include "gateway/log/access_log.hpp"

namespace sovereign::gateway {

ReplicaResolver::ReplicaResolver(boost::asio::io_context& io, HostLookups& lookups,
                                 std::shared_ptr<RuntimeSnapshot> snapshot, BackendState& backend,
                                 ReplicaState& replica, std::function<void()> pinned)
    : lookups_(lookups),
      snapshot_(std::move(snapshot)),
      backend_(backend),
      replica_(replica),
      pinned_(std::move(pinned)),
      next_attempt_(io) {}

void ReplicaResolver::log_refusal(const BackendState& backend, const ReplicaState& replica) {
  log_event("warn", "egress_refused",
            "backend '" + backend.config->name + "' replica " + replica.config().url + ": " + replica.refusal());
}

void ReplicaResolver::start() {
  replica_.series->unresolved.Set(1);
  failed(replica_.unresolved_reason());
  schedule();
}

void ReplicaResolver::stop() {
  stopped_ = true;
  next_attempt_.cancel();  // an attempt under way answers later, and its answer is ignored
}

void ReplicaResolver::failed(const std::string& reason) {
  backend_.series->resolution_failures.Increment();
  if (reason == logged_reason_) return;  // once per reason, not once per interval
  logged_reason_ = reason;
  log_event("warn", "backend_unresolved", replica_.unresolved_report() + " (it gets no request until then)");
}

void ReplicaResolver::schedule() {
  if (stopped_) return;
  next_attempt_.expires_after(backend_.config->health_check.interval);
  next_attempt_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    self->attempt();
  });
}

void ReplicaResolver::attempt() {
  const std::uint64_t attempt = ++attempt_;
  const ReplicaConfig& replica = replica_.config();
  lookups_.lookup(replica.host, replica.port, attempt_timeout, [self = shared_from_this(), attempt](LookupAnswer answer) {
    if (self->stopped_ || attempt != self->attempt_) return;
    const std::string& host = self->replica_.config().host;
    if (!answer.error.empty()) return self->settle(EgressGuard::unresolved(host, answer.error));
    const bool loopback_only = !self->replica_.config().https && self->backend_.config->loopback;
    self->settle(self->snapshot_->egress_guard.pin(host, answer.endpoints, loopback_only));
  });
}

void ReplicaResolver::settle(Pinning pinning) {
  ++attempt_;  // this attempt is over
  const Pinning::Status status = pinning.status;
  if (status == Pinning::Status::unresolved) {
    const std::string reason = pinning.why;
    replica_.apply(std::move(pinning));
    failed(reason);
    return schedule();
  }
  replica_.apply(std::move(pinning));
  replica_.series->unresolved.Set(0);
  replica_.series->healthy.Set(status == Pinning::Status::pinned && replica_.healthy() ? 1 : 0);
  if (status == Pinning::Status::refused) return log_refusal(backend_, replica_);
  std::string addresses;
  for (const auto& endpoint : replica_.endpoints())
    addresses += (addresses.empty() ? "" : ", ") + endpoint.address().to_string();
  log_event("info", "backend_resolved",
            "backend '" + backend_.config->name + "' replica " + replica_.config().url + ": '" +
                replica_.config().host + "' resolves to " + addresses + ", inside the boundary; pinned");
  pinned_();
}

}  // namespace sovereign::gateway
