#include "gateway/admission/rate_limiter.hpp"

namespace sovereign::gateway {

std::optional<std::chrono::milliseconds> GcraLimit::try_take(std::uint32_t per_minute, std::uint64_t cost,
                                                             std::chrono::steady_clock::time_point now) {
  constexpr std::int64_t minute_ns = 60'000'000'000;
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const std::int64_t interval_ns = minute_ns / per_minute;
  const std::int64_t increment = interval_ns * static_cast<std::int64_t>(cost);
  std::int64_t tat = theoretical_arrival_ns_.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t new_tat = std::max(tat, now_ns) + increment;
    std::int64_t excess = new_tat - now_ns - minute_ns;
    if (excess > 0) return std::chrono::ceil<std::chrono::milliseconds>(std::chrono::nanoseconds(excess));
    if (theoretical_arrival_ns_.compare_exchange_weak(tat, new_tat, std::memory_order_relaxed)) return std::nullopt;
  }
}

RateLimiter::RateLimiter(const std::vector<TenantConfig>& tenants, const RateLimiter* previous) {
  for (const auto& tenant : tenants) {
    std::shared_ptr<TenantLimits> state;
    if (previous != nullptr)
      if (auto it = previous->limits_.find(tenant.name); it != previous->limits_.end()) state = it->second;
    limits_[tenant.name] = state ? state : std::make_shared<TenantLimits>();
  }
}

RateDecision RateLimiter::admit(const TenantConfig& tenant, std::uint64_t estimated_tokens,
                                std::chrono::steady_clock::time_point now) const {
  auto it = limits_.find(tenant.name);
  if (it == limits_.end()) return {};
  auto& state = *it->second;
  if (tenant.rate_limit.requests_per_minute != 0)
    if (auto wait = state.requests.try_take(tenant.rate_limit.requests_per_minute, 1, now))
      return {false, "requests per minute", *wait};
  if (tenant.rate_limit.tokens_per_minute != 0 && estimated_tokens != 0) {
    auto cost = std::min<std::uint64_t>(estimated_tokens, tenant.rate_limit.tokens_per_minute);
    if (auto wait = state.tokens.try_take(tenant.rate_limit.tokens_per_minute, cost, now))
      return {false, "tokens per minute", *wait};
  }
  return {};
}

}  // namespace sovereign::gateway
