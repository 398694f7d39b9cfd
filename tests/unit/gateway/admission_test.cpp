// Tenants: key lookup by digest, bearer parsing, and per-tenant rate limits.
#include <doctest/doctest.h>

#include "gateway/admission/rate_limiter.hpp"
#include "gateway/tenants/tenant_registry.hpp"

using namespace sovereign::gateway;
using namespace std::chrono_literals;

namespace {

TenantConfig tenant(const std::string& name, const std::string& key, std::uint32_t rpm = 0, std::uint32_t tpm = 0) {
  TenantConfig t;
  t.name = name;
  t.api_key_digests.push_back(sovereign::crypto::sha256(key));
  t.models = {"*"};
  t.rate_limit = {rpm, tpm};
  return t;
}

}  // namespace

TEST_SUITE("tenants") {
  TEST_CASE("API keys map to their tenant and nothing else does") {
    std::vector<TenantConfig> tenants{tenant("a", "key-a"), tenant("b", "key-b")};
    tenants[1].client_certificate_cns = {"app-b"};
    TenantRegistry registry(tenants);
    REQUIRE(registry.by_api_key("key-a") != nullptr);
    CHECK(registry.by_api_key("key-a")->name == "a");
    CHECK(registry.by_api_key("key-b")->name == "b");
    CHECK(registry.by_api_key("key-c") == nullptr);
    CHECK(registry.by_api_key("") == nullptr);
    CHECK(registry.by_api_key("key-a ") == nullptr);
    CHECK(registry.by_client_certificate("app-b")->name == "b");
    CHECK(registry.by_client_certificate("") == nullptr);
  }

  TEST_CASE("every one of thousands of keys finds its own tenant") {
    std::vector<TenantConfig> tenants;
    for (int i = 0; i < 1500; ++i) {
      tenants.push_back(tenant("t" + std::to_string(i), "key-" + std::to_string(i)));
      tenants.back().api_key_digests.push_back(sovereign::crypto::sha256("second-key-" + std::to_string(i)));
    }
    TenantRegistry registry(tenants);
    for (int i = 0; i < 1500; ++i) {
      const TenantConfig* first = registry.by_api_key("key-" + std::to_string(i));
      const TenantConfig* second = registry.by_api_key("second-key-" + std::to_string(i));
      REQUIRE(first != nullptr);
      REQUIRE(second != nullptr);
      CHECK(first->name == "t" + std::to_string(i));
      CHECK(second == first);
    }
    CHECK(registry.by_api_key("key-1500") == nullptr);
    for (int i = 0; i < 1500; ++i) tenants[i].client_certificate_cns = {"app-" + std::to_string(i)};
    TenantRegistry by_certificate(tenants);
    for (int i = 0; i < 1500; ++i) {
      const TenantConfig* found = by_certificate.by_client_certificate("app-" + std::to_string(i));
      REQUIRE(found != nullptr);
      CHECK(found->name == "t" + std::to_string(i));
    }
    CHECK(by_certificate.by_client_certificate("app-1500") == nullptr);
    CHECK(by_certificate.by_client_certificate("APP-1") == nullptr);  // names are matched exactly
    CHECK(registry.by_api_key("key-1") != registry.by_api_key("key-10"));
  }

  TEST_CASE("a digest that shares its first bytes with the presented key's is no match") {
    // The search narrows on the digest's first eight bytes; the whole digest must then be equal.
    const auto real = sovereign::crypto::sha256("key-real");
    for (std::size_t changed : {8u, 20u, 31u}) {
      auto near = real;
      near[changed] ^= 0x01;
      TenantConfig decoy;
      decoy.name = "decoy";
      decoy.api_key_digests = {near};
      std::vector<TenantConfig> tenants{decoy, tenant("real", "key-real")};
      TenantRegistry registry(tenants);
      REQUIRE(registry.by_api_key("key-real") != nullptr);
      CHECK(registry.by_api_key("key-real")->name == "real");
      std::vector<TenantConfig> only_decoy{decoy};
      CHECK(TenantRegistry(only_decoy).by_api_key("key-real") == nullptr);
    }
  }

  TEST_CASE("bearer tokens are taken only from the Bearer scheme") {
    CHECK(bearer_token("Bearer sk-1") == "sk-1");
    CHECK(bearer_token("bearer  sk-1 ") == "sk-1");
    CHECK(bearer_token("Basic dXNlcg==") == "");
    CHECK(bearer_token("Bearer") == "");
  }

  TEST_CASE("requests per minute: a minute's burst, then Retry-After until the budget refills") {
    std::vector<TenantConfig> tenants{tenant("a", "k", 3)};
    RateLimiter limiter(tenants, nullptr);
    auto now = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) CHECK(limiter.admit(tenants[0], 0, now).allowed);
    auto refused = limiter.admit(tenants[0], 0, now);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.exceeded == "requests per minute");
    CHECK(refused.retry_after > 19s);
    CHECK(refused.retry_after <= 20s);
    CHECK(limiter.admit(tenants[0], 0, now + 20s).allowed);
  }

  TEST_CASE("tokens per minute are charged by the estimate and limits survive a reload") {
    std::vector<TenantConfig> tenants{tenant("a", "k", 0, 1000)};
    RateLimiter limiter(tenants, nullptr);
    auto now = std::chrono::steady_clock::now();
    CHECK(limiter.admit(tenants[0], 900, now).allowed);
    RateLimiter reloaded(tenants, &limiter);
    auto refused = reloaded.admit(tenants[0], 200, now);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.exceeded == "tokens per minute");
    std::vector<TenantConfig> other{tenant("b", "k2", 0, 1000)};
    RateLimiter fresh(other, &limiter);
    CHECK(fresh.admit(other[0], 900, now).allowed);
  }

  TEST_CASE("a request refused for its tokens does not use up one of the tenant's requests") {
    std::vector<TenantConfig> tenants{tenant("a", "k", 2, 1000)};
    RateLimiter limiter(tenants, nullptr);
    auto now = std::chrono::steady_clock::now();
    CHECK(limiter.admit(tenants[0], 900, now).allowed);
    CHECK(limiter.admit(tenants[0], 200, now).exceeded == "tokens per minute");
    CHECK(limiter.admit(tenants[0], 50, now).allowed);  // the second of two requests a minute
    CHECK(limiter.admit(tenants[0], 10, now).exceeded == "requests per minute");
  }

  TEST_CASE("tokens per minute settle on the usage the answer reports: debt is charged, overestimates refunded") {
    std::vector<TenantConfig> tenants{tenant("a", "k", 0, 1000)};
    auto now = std::chrono::steady_clock::now();
    {
      RateLimiter limiter(tenants, nullptr);
      REQUIRE(limiter.admit(tenants[0], 10, now).allowed);  // no max_tokens: only the prompt estimated
      limiter.settle(tenants[0], 10, 1500, now);           // the answer used 1,500: 500 of debt
      auto refused = limiter.admit(tenants[0], 1, now);
      CHECK_FALSE(refused.allowed);
      CHECK(refused.retry_after > 30s);                     // 501 tokens to pay back at 1,000 a minute
      CHECK(refused.retry_after <= 31s);
      CHECK(limiter.admit(tenants[0], 1, now + 31s).allowed);
    }
    {
      RateLimiter limiter(tenants, nullptr);
      REQUIRE(limiter.admit(tenants[0], 900, now).allowed);  // max_tokens 900 reserved...
      CHECK_FALSE(limiter.admit(tenants[0], 900, now).allowed);
      limiter.settle(tenants[0], 900, 50, now);              // ...but 50 used: 850 come back
      CHECK(limiter.admit(tenants[0], 900, now).allowed);
      CHECK_FALSE(limiter.admit(tenants[0], 100, now).allowed);
    }
    {
      RateLimiter limiter(tenants, nullptr);
      limiter.settle(tenants[0], 500, 0, now);  // a refund never makes more than a full budget
      CHECK(limiter.admit(tenants[0], 1000, now).allowed);
      CHECK_FALSE(limiter.admit(tenants[0], 1, now).allowed);
      std::vector<TenantConfig> unlimited{tenant("a", "k")};
      RateLimiter none(unlimited, nullptr);
      none.settle(unlimited[0], 0, 1'000'000, now);  // no budget: nothing to settle
      CHECK(none.admit(unlimited[0], 1'000'000, now).allowed);
      CHECK(RateLimiter::tokens_charged(unlimited[0], 500) == 0);
      CHECK(RateLimiter::tokens_charged(tenants[0], 5000) == 1000);
    }
  }
}
