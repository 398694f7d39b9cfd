#pragma once
// SHA-256 digests with fixed-size types, and hex encoding for configs and records.
//
// The digests are OpenSSL's, which uses the CPU's SHA extensions: the gateway digests every
// request and response body for the audit log, and libsodium's portable SHA-256 took 4.5 us for a
// 1.3 KB chat request where OpenSSL takes 0.8 us (measured on this project's machine).
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX
struct evp_md_st;      // OpenSSL's EVP_MD

namespace sovereign::crypto {

inline constexpr std::size_t sha256_bytes = 32;
using Sha256 = std::array<unsigned char, sha256_bytes>;

Sha256 sha256(std::span<const unsigned char> data) noexcept;
Sha256 sha256(std::string_view data) noexcept;

// OpenSSL's SHA-256, fetched once: passing EVP_sha256() to EVP_DigestInit_ex looks the
// implementation up again on every digest. For code that keeps its own EVP_MD_CTX (the Merkle tree).
const evp_md_st* sha256_method() noexcept;

// Incremental SHA-256 for data that arrives in pieces (streamed responses).
class Sha256Hasher {
 public:
  Sha256Hasher() noexcept = default;
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void update(std::string_view data) noexcept;
  [[nodiscard]] Sha256 finish() noexcept;  // once
  // The digest of the data so far followed by `tail`, leaving this hasher as it was (to go on).
  [[nodiscard]] Sha256 finish_with(std::string_view tail) noexcept;

 private:
  void start() noexcept;
  evp_md_ctx_st* context_ = nullptr;  // created by the first use, so that an unused hasher costs nothing
};

std::string to_hex(std::span<const unsigned char> bytes);
// Parses exactly 2*N hex digits (either case); nullopt for anything else.
[[nodiscard]] std::optional<Sha256> sha256_from_hex(std::string_view hex);

// Constant-time equality of two digests (sodium_memcmp), for secrets such as API key digests.
[[nodiscard]] bool equal_constant_time(const Sha256& a, const Sha256& b) noexcept;

}  // namespace sovereign::crypto
