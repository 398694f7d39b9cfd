#include "gateway/pipeline/capture_health.hpp"

namespace sovereign::gateway {

bool CaptureHealth::record_failure(const std::string& detail) {
  std::lock_guard lock(mutex_);
  detail_ = detail;
  return healthy_.exchange(false, std::memory_order_acq_rel);
}

bool CaptureHealth::record_success() {
  std::lock_guard lock(mutex_);
  detail_.clear();
  return !healthy_.exchange(true, std::memory_order_acq_rel);
}

std::optional<std::string> CaptureHealth::failure() const {
  std::lock_guard lock(mutex_);
  if (healthy_.load(std::memory_order_relaxed)) return std::nullopt;
  return detail_;
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
