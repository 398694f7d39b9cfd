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

  // An idle connection that is still open and not older than max_idle_age, or nullptr.
  std::shared_ptr<UpstreamConnection> acquire(ReplicaState& replica);
  // Keeps the connection for reuse if the backend's max_idle_connections allows, else closes it.
  void release(std::shared_ptr<UpstreamConnection> connection);

  static constexpr std::chrono::seconds max_idle_age{30};

 private:
  std::unordered_map<const ReplicaState*, std::deque<std::shared_ptr<UpstreamConnection>>> idle_;
};

}  // namespace sovereign::gateway
