#include "crypto/digest.hpp"

#include <sodium.h>

namespace sovereign::crypto {

Sha256 sha256(std::span<const unsigned char> data) noexcept {
  Sha256 out{};
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

Sha256 sha256(std::string_view data) noexcept {
  return sha256(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(data.data()), data.size()));
}

static_assert(sizeof(crypto_hash_sha256_state) <= 128, "Sha256Hasher's state buffer is too small");

Sha256Hasher::Sha256Hasher() noexcept { crypto_hash_sha256_init(reinterpret_cast<crypto_hash_sha256_state*>(state_)); }

void Sha256Hasher::update(std::string_view data) noexcept {
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_),
                            reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

Sha256 Sha256Hasher::finish() noexcept {
  Sha256 out{};
  crypto_hash_sha256_final(reinterpret_cast<crypto_hash_sha256_state*>(state_), out.data());
  return out;
}

std::string to_hex(std::span<const unsigned char> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::optional<Sha256> sha256_from_hex(std::string_view hex) {
  if (hex.size() != sha256_bytes * 2) return std::nullopt;
  Sha256 out{};
  std::size_t written = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &written, &end) != 0 ||
      written != sha256_bytes || end != hex.data() + hex.size())
    return std::nullopt;
  return out;
}

bool equal_constant_time(const Sha256& a, const Sha256& b) noexcept {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sovereign::crypto
