#include "gateway/upstream/connection_pool.hpp"

namespace sovereign::gateway {

std::shared_ptr<UpstreamConnection> ConnectionPool::acquire(ReplicaState& replica) {
  auto it = idle_.find(&replica);
  if (it == idle_.end()) return nullptr;
  auto now = std::chrono::steady_clock::now();
  auto& idle = it->second;
  while (!idle.empty()) {
    auto connection = std::move(idle.back());  // most recently used first: most likely still open
    idle.pop_back();
    if (auto* gauge = connection->replica().idle_gauge) gauge->Decrement();
    if (now - connection->idle_since < max_idle_age && connection->tcp().socket().is_open()) {
      connection->reused = true;
      return connection;
    }
    connection->close();
  }
  return nullptr;
}

void ConnectionPool::release(std::shared_ptr<UpstreamConnection> connection) {
  auto& idle = idle_[&connection->replica()];
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
