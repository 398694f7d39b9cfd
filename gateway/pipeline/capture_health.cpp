#include "gateway/pipeline/capture_health.hpp"

namespace sovereign::gateway {

bool CaptureHealth::record_failure(const std::string& detail) {
  std::lock_guard lock(mutex_);
  detail_ = detail;
  return healthy_.exchange(false, std::memory_order_acq_rel);
}

bool CaptureHealth::record_success(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  // One write got through, but the directory is no healthier while another still hangs.
  if (std::optional<std::string> stall = stalled_locked(now)) {
    detail_ = std::move(*stall);
    return healthy_.exchange(false, std::memory_order_acq_rel);
  }
  detail_.clear();
  return !healthy_.exchange(true, std::memory_order_acq_rel);
}

std::optional<std::string> CaptureHealth::failure() const {
  std::lock_guard lock(mutex_);
  if (healthy_.load(std::memory_order_relaxed)) return std::nullopt;
  return detail_;
}

std::uint64_t CaptureHealth::write_started(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_id_++;
  outstanding_.emplace(id, now);
  return id;
}

void CaptureHealth::write_finished(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  outstanding_.erase(id);
}

std::optional<std::string> CaptureHealth::stalled(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return stalled_locked(now);
}

std::size_t CaptureHealth::outstanding() const {
  std::lock_guard lock(mutex_);
  return outstanding_.size();
}

std::optional<std::string> CaptureHealth::stalled_locked(Clock::time_point now) const {
  if (outstanding_.empty()) return std::nullopt;
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - outstanding_.begin()->second);
  if (waited < write_timeout_) return std::nullopt;
  return "a write to the capture directory has not finished after " + std::to_string(waited.count()) +
         " ms (audit.capture_write_timeout_ms is " + std::to_string(write_timeout_.count()) +
         "): its disk or file server may hang";
}

bool CaptureHealth::record_stall(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::optional<std::string> stall = stalled_locked(now);
  if (!stall) return false;
  detail_ = std::move(*stall);
  return healthy_.exchange(false, std::memory_order_acq_rel);
}

bool CaptureHealth::begin_probe(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (healthy_.load(std::memory_order_relaxed) || probe_running_) return false;
  if (last_probe_ && now - *last_probe_ < probe_interval) return false;
  probe_running_ = true;
  last_probe_ = now;
  return true;
}

void CaptureHealth::probe_finished() {
  std::lock_guard lock(mutex_);
  probe_running_ = false;
}

}  // namespace sovereign::gateway
