#pragma once
// Per-tenant rate limits (requests and tokens per minute) shared by all worker threads without
// locks: each limit is a GCRA cell ("theoretical arrival time") in one atomic integer.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

// One limit of `per_minute` units, with a burst of one minute's worth.
class GcraLimit {
 public:
  // Takes `cost` units if the limit allows; otherwise returns how long until it would.
  std::optional<std::chrono::milliseconds> try_take(std::uint32_t per_minute, std::uint64_t cost,
                                                    std::chrono::steady_clock::time_point now);
  // Takes `units` more whatever the limit (units > 0: the budget may go into debt, and later
  // requests wait until it is paid), or gives them back (units < 0).
  void adjust(std::uint32_t per_minute, std::int64_t units, std::chrono::steady_clock::time_point now);

 private:
  std::atomic<std::int64_t> theoretical_arrival_ns_{0};
};

struct RateDecision {
  bool allowed = true;
  std::string exceeded;  // "requests per minute" / "tokens per minute"
  std::chrono::milliseconds retry_after{0};
};

class RateLimiter {
 public:
  // States carry over from `previous` (by tenant name) so a reload does not reset anyone's budget.
  RateLimiter(const std::vector<TenantConfig>& tenants, const RateLimiter* previous);

  RateDecision admit(const TenantConfig& tenant, std::uint64_t estimated_tokens,
                     std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;
  // Once the answer says how many tokens were used: charges the difference to what admit() took
  // for this request (`charged`, after admit's cap at one minute's budget), or refunds it.
  void settle(const TenantConfig& tenant, std::uint64_t charged, std::uint64_t used,
              std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;
  // What admit() takes from the tokens budget for a request estimated at `estimated_tokens`.
  static std::uint64_t tokens_charged(const TenantConfig& tenant, std::uint64_t estimated_tokens);

 private:
  struct TenantLimits {
    GcraLimit requests;
    GcraLimit tokens;
  };
  std::unordered_map<std::string, std::shared_ptr<TenantLimits>> limits_;
};

}  // namespace sovereign::gateway
