#pragma once
// The id every answer carries as X-Request-Id and the access log and audit records name:
// "req_" and 16 hex digits from a per-thread generator.
#include <random>
#include <string>

namespace sovereign::gateway {

inline std::string new_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string id = "req_";
  auto value = generator();
  for (int i = 0; i < 16; ++i, value >>= 4) id += digits[value & 0xF];
  return id;
}

}  // namespace sovereign::gateway
