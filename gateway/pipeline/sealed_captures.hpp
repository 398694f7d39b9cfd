#pragma once
// Sealed captures as the gateway writes them: on the capture thread, with every write to the capture
// directory, and every probe of it, recorded in services.capture_health (and logged when captures
// stop or start being writable), and each one bounded by audit.capture_write_timeout_ms.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "crypto/sealed_capture.hpp"
#include "gateway/pipeline/gateway_services.hpp"

namespace sovereign::gateway {

// Seals and stores one body; runs on services.capture_writer and needs services.captures. A body
// that cannot be sealed (over the size limit) fails this capture alone and says nothing of the
// directory's health.
[[nodiscard]] crypto::Result<std::filesystem::path> write_capture(GatewayServices& services,
                                                                  const crypto::CaptureMetadata& metadata,
                                                                  std::string_view body);

// Hands one body to the capture thread (write_capture) and calls `written` on `io` once with the
// file, or why there is none. A write still outstanding after the write timeout is answered as a
// failure then (it may finish later; the caller has failed closed meanwhile), and while one is, a
// new body is refused at once rather than queued behind it. Needs services.captures.
using CaptureWritten = std::function<void(crypto::Result<std::filesystem::path>)>;
void post_capture(GatewayServices& services, boost::asio::io_context& io, crypto::CaptureMetadata metadata,
                  std::string body, CaptureWritten written);

// For the admin listener's /readyz and /metrics: records a write or probe outstanding past the
// write timeout as a failure, and while captures fail starts a probe of the capture directory on
// the capture thread (at most one every CaptureHealth::probe_interval, never two at once). Returns
// at once: the admin listener never waits on the disk. What the probe finds is read on a later check.
void check_capture_health(GatewayServices& services);

}  // namespace sovereign::gateway
