#pragma once
// A deadline that costs nothing to set or clear: a time point that its owner's periodic sweep
// compares with the clock (Listener sweeps its connections every sweep_interval).
//
// An Asio timer per request and per I/O operation costs a timer-queue insertion, a cancellation
// that still runs a handler, and often a timerfd_settime system call: about 5% of a worker's
// throughput on small API requests, measured. The gateway's timeouts are hundreds of
// milliseconds to minutes long, so a deadline that fires up to one sweep late is precise enough.
#include <chrono>
#include <ctime>

namespace sovereign::gateway {

inline constexpr std::chrono::milliseconds sweep_interval{100};

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // CLOCK_MONOTONIC at the kernel tick's resolution (a few milliseconds): several times cheaper to
  // read than the precise clock, and the same clock, so its readings compare with steady_clock's.
  static Clock::time_point coarse_now() noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return Clock::time_point(std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec));
  }

  void expires_after(Clock::duration timeout) { at_ = coarse_now() + timeout; }
  void expires_at(Clock::time_point at) { at_ = at; }
  void clear() { at_ = Clock::time_point::max(); }
  bool passed(Clock::time_point now) const { return now >= at_; }

 private:
  Clock::time_point at_ = Clock::time_point::max();
};

}  // namespace sovereign::gateway
