#pragma once
// Process-wide services the request pipeline uses; owned by the runtime, outliving every request.
#include <atomic>
#include <memory>

#include "gateway/http/client_session.hpp"
#include "gateway/log/access_log.hpp"
#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/runtime/runtime_snapshot.hpp"

namespace sovereign::gateway {

struct GatewayServices {
  GatewayMetrics metrics;
  std::unique_ptr<AccessLog> access_log;
  SessionRegistry sessions;
  std::atomic<std::shared_ptr<RuntimeSnapshot>> snapshot;
  std::atomic<bool> ready{false};

  std::shared_ptr<RuntimeSnapshot> current() const { return snapshot.load(std::memory_order_acquire); }
};

}  // namespace sovereign::gateway
