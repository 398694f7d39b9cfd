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

void GcraLimit::adjust(std::uint32_t per_minute, std::int64_t units, std::chrono::steady_clock::time_point now) {
  constexpr std::int64_t minute_ns = 60'000'000'000;
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const std::int64_t delta = minute_ns / per_minute * units;
  std::int64_t tat = theoretical_arrival_ns_.load(std::memory_order_relaxed);
  // An arrival time in the past means a full budget: debt counts from now, refunds never go below it.
  while (!theoretical_arrival_ns_.compare_exchange_weak(tat, std::max(std::max(tat, now_ns) + delta, now_ns),
                                                        std::memory_order_relaxed)) {
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
  if (const std::uint64_t cost = tokens_charged(tenant, estimated_tokens); cost != 0) {
    if (auto wait = state.tokens.try_take(tenant.rate_limit.tokens_per_minute, cost, now)) {
      // A refused request uses up nothing: the request it was counted as is given back.
      if (tenant.rate_limit.requests_per_minute != 0) state.requests.adjust(tenant.rate_limit.requests_per_minute, -1, now);
      return {false, "tokens per minute", *wait};
    }
  }
  return {};
}

std::uint64_t RateLimiter::tokens_charged(const TenantConfig& tenant, std::uint64_t estimated_tokens) {
  if (tenant.rate_limit.tokens_per_minute == 0) return 0;
  return std::min<std::uint64_t>(estimated_tokens, tenant.rate_limit.tokens_per_minute);
}

void RateLimiter::settle(const TenantConfig& tenant, std::uint64_t charged, std::uint64_t used,
                         std::chrono::steady_clock::time_point now) const {
  if (tenant.rate_limit.tokens_per_minute == 0 || used == charged) return;
  auto it = limits_.find(tenant.name);
  if (it == limits_.end()) return;
  // One answer never costs more than an hour of budget, however large the count it reports.
  const std::uint64_t capped = std::min<std::uint64_t>(used, 60ull * tenant.rate_limit.tokens_per_minute);
  it->second->tokens.adjust(tenant.rate_limit.tokens_per_minute,
                            static_cast<std::int64_t>(capped) - static_cast<std::int64_t>(charged), now);
}

}  // namespace sovereign::gateway
