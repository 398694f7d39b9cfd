#include "gateway/pipeline/sealed_captures.hpp"

#include <boost/asio/post.hpp>

#include "gateway/log/access_log.hpp"

namespace sovereign::gateway {
namespace {

// Captures are synced as the audit log's records are: in strict durability only.
bool sync_captures(const GatewayServices& services) { return services.audit_durability == crypto::Durability::strict; }

// What a write to the capture directory (a capture or a probe) found; the operator's log says so
// once when captures stop being writable and once when they are written again, not per request.
void record_directory_health(GatewayServices& services, const crypto::Status& outcome) {
  if (outcome) {
    if (services.capture_health.record_success())
      log_event("info", "captures_writable", "sealed captures are written again; requests the policy captures are served");
    return;
  }
  if (services.capture_health.record_failure(outcome.error().message))
    log_event("error", "captures_unwritable",
              "sealed captures cannot be written, so requests the policy captures are refused with 503 "
              "capture_unavailable (and /readyz answers 503 while the policy asks for captures): " +
                  outcome.error().message);
}

}  // namespace

crypto::Result<std::filesystem::path> write_capture(GatewayServices& services, const crypto::CaptureMetadata& metadata,
                                                    std::string_view body) {
  crypto::Result<std::string> sealed = services.captures->seal(metadata, body);
  if (!sealed) return sealed.error();
  crypto::Result<std::filesystem::path> stored = services.captures->store(metadata, sealed.value(), sync_captures(services));
  record_directory_health(services, stored ? crypto::Status{} : crypto::Status(stored.error()));
  return stored;
}

void probe_captures_while_failing(GatewayServices& services) {
  if (!services.captures || !services.capture_health.begin_probe(CaptureHealth::Clock::now())) return;
  boost::asio::post(services.capture_writer, [&services] {
    record_directory_health(services, services.captures->probe(sync_captures(services)));
    services.capture_health.probe_finished();
  });
}

}  // namespace sovereign::gateway
