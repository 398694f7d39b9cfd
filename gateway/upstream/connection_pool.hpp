#pragma once
// Keep-alive connections to backend replicas, one pool per worker thread (never shared, never locked).
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>

#include "gateway/upstream/upstream_connection.hpp"

namespace sovereign::gateway {

class ConnectionPool {
 public:
  ConnectionPool() = default;
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // An idle connection not older than max_idle_age on which nothing is waiting (no bytes, no
  // close from the backend), or nullptr. The others are closed; those the backend wrote to or
  // closed are counted (sovereign_upstream_connections_dropped_total), unexpected bytes logged.
  std::shared_ptr<UpstreamConnection> acquire(ReplicaState& replica);
  // Keeps the connection, whose answer has been read to its end, for reuse if nothing follows that
  // answer (in its buffer, the TLS layer or the socket) and max_idle_connections allows; else closes it.
  void release(std::shared_ptr<UpstreamConnection> connection);

  static constexpr std::chrono::seconds max_idle_age{30};

 private:
  std::unordered_map<const ReplicaState*, std::deque<std::shared_ptr<UpstreamConnection>>> idle_;
};

}  // namespace sovereign::gateway
