#pragma once
// CaptureHealth: whether sealed captures can be written now. The capture thread sets it after every
// write to the capture directory and every probe of it; the admin listener reads it for /readyz and
// /metrics, and asks for probes while it fails: a gateway out of rotation gets no captured requests
// whose writes would show that the directory works again. A write or probe that never returns (a
// hung disk, a file server gone) reports nothing itself, so each is also tracked from the moment it
// is handed to the capture thread: one outstanding longer than the write timeout counts as failing.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
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
  // How long a write or probe may be outstanding: audit.capture_write_timeout_ms, set once at
  // start before any write.
  void set_write_timeout(std::chrono::milliseconds timeout) { write_timeout_ = timeout; }
  std::chrono::milliseconds write_timeout() const { return write_timeout_; }

  // What a write or probe found: failing since the last failed one, with its reason; healthy again
  // after one that succeeded, unless another is still outstanding past the write timeout. Each
  // returns true when it changed the state (to be logged once).
  bool record_failure(const std::string& detail);
  bool record_success(Clock::time_point now = Clock::now());

  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // While failing, why (the last failure's reason); nothing when healthy.
  std::optional<std::string> failure() const;

  // A write or probe handed to the capture thread at `now`, until write_finished(the id returned).
  std::uint64_t write_started(Clock::time_point now);
  void write_finished(std::uint64_t id);
  // Why captures count as failing at `now` because the oldest outstanding write or probe has run past
  // the write timeout; nothing while none has.
  std::optional<std::string> stalled(Clock::time_point now) const;
  // How many writes and probes have been handed to the capture thread and not finished.
  std::size_t outstanding() const;
  // Records such a stall as a failure; true when that changed the state (to be logged once).
  bool record_stall(Clock::time_point now);

  // True when a probe should start now: captures fail, no probe is running, and none started in the
  // last probe_interval. The caller then runs one, records what it found, and calls probe_finished().
  bool begin_probe(Clock::time_point now);
  void probe_finished();

 private:
  std::optional<std::string> stalled_locked(Clock::time_point now) const;

  mutable std::mutex mutex_;  // guards the fields below, and writes of healthy_ with detail_
  std::atomic<bool> healthy_{true};
  std::string detail_;
  bool probe_running_ = false;
  std::optional<Clock::time_point> last_probe_;
  std::chrono::milliseconds write_timeout_{std::chrono::seconds(10)};
  // Outstanding writes and probes by id; ids rise with time, so the first is the oldest.
  std::map<std::uint64_t, Clock::time_point> outstanding_;
  std::uint64_t next_id_ = 0;
};

}  // namespace sovereign::gateway
