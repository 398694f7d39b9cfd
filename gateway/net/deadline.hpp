#pragma once
// A deadline that costs nothing to set or clear: a time point that its owner's periodic sweep
// compares with the clock (Listener sweeps its connections every sweep_interval).
//
// An Asio timer per request and per I/O operation costs a timer-queue insertion, a cancellation
// that still runs a handler, and often a timerfd_settime system call: about 5% of a worker's
// throughput on small API requests, measured. The gateway's timeouts are hundreds of
// milliseconds to minutes long, so a deadline that fires up to one sweep late is precise enough.
#include <chrono>

namespace sovereign::gateway {

inline constexpr std::chrono::milliseconds sweep_interval{100};

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  void expires_after(Clock::duration timeout) { at_ = Clock::now() + timeout; }
  void expires_at(Clock::time_point at) { at_ = at; }
  void clear() { at_ = Clock::time_point::max(); }
  bool passed(Clock::time_point now) const { return now >= at_; }

 private:
  Clock::time_point at_ = Clock::time_point::max();
};

}  // namespace sovereign::gateway
