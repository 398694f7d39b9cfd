#include "gateway/pipeline/sealed_captures.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/log/access_log.hpp"

namespace sovereign::gateway {
namespace {

using Clock = CaptureHealth::Clock;

// Captures are synced as the audit log's records are: in strict durability only.
bool sync_captures(const GatewayServices& services) { return services.audit_durability == crypto::Durability::strict; }

// The operator's log says so once when captures stop being writable and once when they are written
// again, not per request.
void log_unwritable(const std::string& detail) {
  log_event("error", "captures_unwritable",
            "sealed captures cannot be written, so requests the policy captures are refused with 503 "
            "capture_unavailable (and /readyz answers 503 while the policy asks for captures): " +
                detail);
}

// What a write to the capture directory (a capture or a probe) found. `handed_over`: its id where it
// was handed to the capture thread, no longer outstanding once it has found something.
void record_directory_health(GatewayServices& services, const crypto::Status& outcome,
                             std::optional<std::uint64_t> handed_over) {
  if (handed_over) services.capture_health.write_finished(*handed_over);
  if (outcome) {
    if (services.capture_health.record_success())
      log_event("info", "captures_writable", "sealed captures are written again; requests the policy captures are served");
    return;
  }
  if (services.capture_health.record_failure(outcome.error().message)) log_unwritable(outcome.error().message);
}

// Why a capture cannot be handed over now: a write or probe has been outstanding past the write
// timeout (recorded, and logged when that starts the failure).
std::optional<std::string> stall(GatewayServices& services) {
  const Clock::time_point now = Clock::now();
  if (services.capture_health.record_stall(now))
    if (std::optional<std::string> failure = services.capture_health.failure()) log_unwritable(*failure);
  return services.capture_health.stalled(now);
}

crypto::Result<std::filesystem::path> seal_and_store(GatewayServices& services, const crypto::CaptureMetadata& metadata,
                                                     std::string_view body, std::optional<std::uint64_t> handed_over) {
  // `handed_over` was taken as the capture thread began this write: only a write in progress can
  // hang, so time spent queued behind others (a burst on a healthy disk) never counts as a stall.
  crypto::Result<std::string> sealed = services.captures->seal(metadata, body);
  if (!sealed) {
    if (handed_over) services.capture_health.write_finished(*handed_over);
    return sealed.error();
  }
  crypto::Result<std::filesystem::path> stored = services.captures->store(metadata, sealed.value(), sync_captures(services));
  record_directory_health(services, stored ? crypto::Status{} : crypto::Status(stored.error()), handed_over);
  return stored;
}

// One capture handed over: answered once, by the write or by the timeout, whichever comes first.
// Both answer on the caller's io_context, so `written` needs no lock; `stored` tells the timeout
// that the write has finished and its answer is on its way.
struct PendingCapture {
  explicit PendingCapture(boost::asio::io_context& io, CaptureWritten done) : timeout(io), written(std::move(done)) {}
  void answer(crypto::Result<std::filesystem::path> result) {
    if (!written) return;
    answered.store(true, std::memory_order_release);
    // Released here: a write that never returns must not keep the caller (an exchange) alive.
    CaptureWritten done = std::move(written);
    written = nullptr;
    timeout.cancel();
    done(std::move(result));
  }
  boost::asio::steady_timer timeout;
  CaptureWritten written;
  std::atomic<bool> stored{false};
  std::atomic<bool> answered{false};  // refused before its turn came: the capture thread skips it
};

// The capture's wait: it is refused only when the directory stalls (a write in progress past the
// timeout); a capture queued behind others on a disk that keeps writing waits its turn.
void await_capture(GatewayServices& services, std::shared_ptr<PendingCapture> pending) {
  pending->timeout.expires_after(services.capture_health.write_timeout());
  pending->timeout.async_wait([&services, pending](const boost::system::error_code& ec) {
    if (ec || !pending->written || pending->stored.load(std::memory_order_acquire)) return;
    if (std::optional<std::string> why = stall(services)) return pending->answer(crypto::make_error(*why));
    await_capture(services, pending);
  });
}

}  // namespace

crypto::Result<std::filesystem::path> write_capture(GatewayServices& services, const crypto::CaptureMetadata& metadata,
                                                    std::string_view body) {
  return seal_and_store(services, metadata, body, std::nullopt);
}

void post_capture(GatewayServices& services, boost::asio::io_context& io, crypto::CaptureMetadata metadata,
                  std::string body, CaptureWritten written) {
  if (std::optional<std::string> why = stall(services)) {
    boost::asio::post(io, [written = std::move(written), reason = std::move(*why)] { written(crypto::make_error(reason)); });
    return;
  }
  auto pending = std::make_shared<PendingCapture>(io, std::move(written));
  await_capture(services, pending);
  boost::asio::post(services.capture_writer, [&services, &io, pending = std::move(pending),
                                               metadata = std::move(metadata), body = std::move(body)]() mutable {
    // Refused while it waited (the directory stalled): written now, no record would name the file.
    if (pending->answered.load(std::memory_order_acquire)) return;
    const std::uint64_t id = services.capture_health.write_started(Clock::now());
    crypto::Result<std::filesystem::path> stored = seal_and_store(services, metadata, body, id);
    pending->stored.store(true, std::memory_order_release);
    body.clear();
    body.shrink_to_fit();
    boost::asio::post(io, [pending = std::move(pending), stored = std::move(stored)]() mutable {
      pending->answer(std::move(stored));
    });
  });
}

void check_capture_health(GatewayServices& services) {
  if (!services.captures) return;
  stall(services);
  const Clock::time_point now = Clock::now();
  if (!services.capture_health.begin_probe(now)) return;
  boost::asio::post(services.capture_writer, [&services] {
    const std::uint64_t id = services.capture_health.write_started(Clock::now());
    record_directory_health(services, services.captures->probe(sync_captures(services)), id);
    services.capture_health.probe_finished();
  });
}

}  // namespace sovereign::gateway
