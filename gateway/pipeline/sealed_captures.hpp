#pragma once
// Sealed captures as the gateway writes them: on the capture thread, with every write to the capture
// directory, and every probe of it, recorded in services.capture_health (and logged when captures
// stop or start being writable).
#include <filesystem>
#include <string_view>

#include "crypto/sealed_capture.hpp"
#include "gateway/pipeline/gateway_services.hpp"

namespace sovereign::gateway {

// Seals and stores one body; runs on services.capture_writer and needs services.captures. A body
// that cannot be sealed (over the size limit) fails this capture alone and says nothing of the
// directory's health.
[[nodiscard]] crypto::Result<std::filesystem::path> write_capture(GatewayServices& services,
                                                                  const crypto::CaptureMetadata& metadata,
                                                                  std::string_view body);

// While captures fail, starts a probe of the capture directory on the capture thread (at most one
// every CaptureHealth::probe_interval, never two at once) and returns at once: the caller, the
// admin listener, never waits on the disk. What the probe finds is read on the next check.
void probe_captures_while_failing(GatewayServices& services);

}  // namespace sovereign::gateway
