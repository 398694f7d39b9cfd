#pragma once
// CaptureHealth: whether sealed captures can be written now. The capture thread sets it after every
// write to the capture directory and every probe of it; the admin listener reads it for /readyz and
// /metrics, and asks for probes while it fails: a gateway out of rotation gets no captured requests
// whose writes would show that the directory works again.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace sovereign::gateway {

class CaptureHealth {
 public:
  using Clock = std::chrono::steady_clock;
  // Probes start at most this often, so a load balancer polling /readyz many times a second
  // costs the disk one small synced file a second, and only while captures fail.
  static constexpr Clock::duration probe_interval = std::chrono::seconds(1);

  // What a write or probe found: failing since the last failed one, with its reason; healthy again
  // after one that succeeded. Each returns true when it changed the state (to be logged once).
  bool record_failure(const std::string& detail);
  bool record_success();

  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // While failing, why (the last failure's reason); nothing when healthy.
  std::optional<std::string> failure() const;

  // True when a probe should start now: captures fail, no probe is running, and none started in the
  // last probe_interval. The caller then runs one, records what it found, and calls probe_finished().
  bool begin_probe(Clock::time_point now);
  void probe_finished();

 private:
  mutable std::mutex mutex_;  // guards the fields below, and writes of healthy_ with detail_
  std::atomic<bool> healthy_{true};
  std::string detail_;
  bool probe_running_ = false;
  std::optional<Clock::time_point> last_probe_;
};

}  // namespace sovereign::gateway
