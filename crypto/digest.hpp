#pragma once
// SHA-256 digests (libsodium) with fixed-size types, and hex encoding for configs and records.
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sovereign::crypto {

inline constexpr std::size_t sha256_bytes = 32;
using Sha256 = std::array<unsigned char, sha256_bytes>;

Sha256 sha256(std::span<const unsigned char> data) noexcept;
Sha256 sha256(std::string_view data) noexcept;

// Incremental SHA-256 for data that arrives in pieces (streamed responses).
class Sha256Hasher {
 public:
  Sha256Hasher() noexcept;
  void update(std::string_view data) noexcept;
  [[nodiscard]] Sha256 finish() noexcept;

 private:
  alignas(16) unsigned char state_[128];
};

std::string to_hex(std::span<const unsigned char> bytes);
// Parses exactly 2*N hex digits (either case); nullopt for anything else.
[[nodiscard]] std::optional<Sha256> sha256_from_hex(std::string_view hex);

// Constant-time equality of two digests (sodium_memcmp), for secrets such as API key digests.
[[nodiscard]] bool equal_constant_time(const Sha256& a, const Sha256& b) noexcept;

}  // namespace sovereign::crypto
