#pragma once
// Process-wide services the request pipeline uses; owned by the runtime, outliving every request.
#include <atomic>
#include <memory>
#include <optional>

#include <boost/asio/thread_pool.hpp>

#include "crypto/audit_writer.hpp"
#include "crypto/sealed_capture.hpp"
#include "crypto/token_vault.hpp"
#include "gateway/http/client_session.hpp"
#include "gateway/log/access_log.hpp"
#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/pipeline/capture_health.hpp"
#include "gateway/runtime/runtime_snapshot.hpp"

namespace sovereign::gateway {

struct GatewayServices {
  GatewayMetrics metrics;
  std::unique_ptr<AccessLog> access_log;
  SessionRegistry sessions;
  std::atomic<std::shared_ptr<RuntimeSnapshot>> snapshot;
  std::atomic<bool> ready{false};

  // Present when gateway.yaml configures them; fixed for the life of the process.
  std::unique_ptr<crypto::AuditWriter> audit;
  crypto::Durability audit_durability = crypto::Durability::strict;
  std::unique_ptr<crypto::TokenVault> vault;
  std::optional<crypto::CaptureStore> captures;
  // Whether captures can be written now (see sealed_captures.hpp); meaningful with `captures`.
  CaptureHealth capture_health;
  // Sealing and writing captures fsyncs: it runs here, never on a worker thread.
  boost::asio::thread_pool capture_writer{1};

  std::shared_ptr<RuntimeSnapshot> current() const { return snapshot.load(std::memory_order_acquire); }
};

}  // namespace sovereign::gateway
