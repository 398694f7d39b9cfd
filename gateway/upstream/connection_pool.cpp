#include "gateway/upstream/connection_pool.hpp"

#include "gateway/log/access_log.hpp"

namespace sovereign::gateway {
namespace {

// Bytes a backend sent that no request asked for are counted each time and logged at most once a
// minute per replica (a backend that always does it would otherwise flood the log).
void report_unexpected_bytes(ReplicaState& replica, std::string_view when) {
  if (replica.dropped_unexpected_bytes != nullptr) replica.dropped_unexpected_bytes->Increment();
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = replica.unexpected_bytes_logged_s().load(std::memory_order_relaxed);
  if (last != 0 && now - last < 60) return;
  if (!replica.unexpected_bytes_logged_s().compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  log_event("warn", "upstream_unexpected_bytes",
            "backend '" + replica.backend().name + "' replica " + replica.config().url +
                " sent bytes no request asked for " + std::string(when) +
                "; the connection was closed rather than reused, so they cannot be taken for another request's "
                "answer (logged at most once a minute per replica; each counts in "
                "sovereign_upstream_connections_dropped_total{reason=\"unexpected_bytes\"})");
}

// A connection may carry another request only if nothing is waiting on it: a byte there now would
// be read as the start of that request's answer, shifting every later answer by one.
bool reusable(UpstreamConnection& connection, std::string_view when) {
  switch (connection.leftover()) {
    case UpstreamConnection::Leftover::nothing: return true;
    case UpstreamConnection::Leftover::bytes: report_unexpected_bytes(connection.replica(), when); return false;
    case UpstreamConnection::Leftover::closed:
      if (auto* dropped = connection.replica().dropped_closed) dropped->Increment();
      return false;
  }
  return false;
}

}  // namespace

std::shared_ptr<UpstreamConnection> ConnectionPool::acquire(ReplicaState& replica) {
  auto it = idle_.find(&replica);
  if (it == idle_.end()) return nullptr;
  auto now = std::chrono::steady_clock::now();
  auto& idle = it->second;
  while (!idle.empty()) {
    auto connection = std::move(idle.back());  // most recently used first: most likely still open
    idle.pop_back();
    if (auto* gauge = connection->replica().idle_gauge) gauge->Decrement();
    // Checked as the request is about to be sent (as nginx and Go's transport do): a backend that
    // closed the connection while it was idle is found out here, before the request could be lost
    // on it, and one that wrote after its answer cannot answer this request with those bytes.
    if (now - connection->idle_since < max_idle_age && connection->tcp().socket().is_open() &&
        reusable(*connection, "while its connection was idle")) {
      connection->reused = true;
      return connection;
    }
    connection->close();
  }
  return nullptr;
}

// Released, a connection is checked only for bytes already read past its answer (free); what the
// backend has sent beyond that, or its close, is found by the check in acquire, before any request is
// sent on it, so one system call per reuse is enough.
void ConnectionPool::release(std::shared_ptr<UpstreamConnection> connection) {
  auto& idle = idle_[&connection->replica()];
  if (connection->holds_read_bytes()) {
    report_unexpected_bytes(connection->replica(), "after the end of an answer");
    connection->close();
    return;
  }
  if (idle.size() >= connection->replica().backend().max_idle_connections) {
    connection->close();
    return;
  }
  connection->idle_since = std::chrono::steady_clock::now();
  if (auto* gauge = connection->replica().idle_gauge) gauge->Increment();
  connection->tcp().expires_never();
  idle.push_back(std::move(connection));
}

ConnectionPool::~ConnectionPool() {
  for (auto& [replica, idle] : idle_)
    for (auto& connection : idle) {
      if (auto* gauge = connection->replica().idle_gauge) gauge->Decrement();
      connection->close();
    }
}

}  // namespace sovereign::gateway
