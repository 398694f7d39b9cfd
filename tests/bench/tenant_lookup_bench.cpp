// API key lookup: the time to find a request's tenant by its key with 1 to 10,000 tenants (two keys
// each), beside a peer measured in the same run: the same SHA-256 digest of the key, then a
// constant-time comparison with every configured digest (the textbook way, and the gateway's
// before session 30), whose cost grows with the number of keys.
//
// usage: tenant_lookup_bench [LOOKUPS]   (default 200000 lookups per row, best of 3 rounds)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/digest.hpp"
#include "gateway/tenants/tenant_registry.hpp"

using sovereign::gateway::TenantConfig;
using sovereign::gateway::TenantRegistry;

namespace {

const TenantConfig* compare_with_every_digest(const std::vector<TenantConfig>& tenants, std::string_view key) {
  const auto presented = sovereign::crypto::sha256(key);
  const TenantConfig* found = nullptr;
  for (const auto& tenant : tenants)
    for (const auto& digest : tenant.api_key_digests)
      if (sovereign::crypto::equal_constant_time(digest, presented) && found == nullptr) found = &tenant;
  return found;
}

template <class Lookup>
double best_ns(int lookups, Lookup lookup) {
  double best = 1e300;
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < lookups; ++i)
      if (lookup(i) == nullptr) std::abort();  // every key looked up is configured
    const auto took = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, took / lookups);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int lookups = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200000;
  std::printf("API key lookup (SHA-256 of the key, then the tenant), best of 3 rounds of %d lookups\n\n", lookups);
  std::printf("| tenants | keys | indexed (gateway) | every digest compared (peer) | peer / gateway |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  for (int count : {1, 10, 100, 1000, 10000}) {
    std::vector<TenantConfig> tenants(static_cast<std::size_t>(count));
    std::vector<std::string> keys;
    for (int i = 0; i < count; ++i) {
      tenants[i].name = "tenant-" + std::to_string(i);
      for (const char* kind : {"sk-live-", "sk-batch-"}) {
        keys.push_back(kind + std::to_string(i) + "-0123456789abcdef");
        tenants[i].api_key_digests.push_back(sovereign::crypto::sha256(keys.back()));
      }
    }
    const TenantRegistry registry(tenants);
    // The peer's cost depends on the number of keys only; fewer rounds where each lookup is slow.
    const int peer_lookups = std::max(1, lookups / std::max(1, count / 10));
    const double indexed = best_ns(lookups, [&](int i) { return registry.by_api_key(keys[i % keys.size()]); });
    const double every = best_ns(peer_lookups, [&](int i) { return compare_with_every_digest(tenants, keys[i % keys.size()]); });
    std::printf("| %d | %zu | %.0f ns | %.0f ns | %.1f |\n", count, keys.size(), indexed, every, every / indexed);
  }
  return 0;
}
