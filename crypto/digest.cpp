#include "crypto/digest.hpp"

#include <cstdlib>
#include <memory>

#include <openssl/evp.h>
#include <sodium.h>

namespace sovereign::crypto {

const EVP_MD* sha256_method() noexcept {
  static EVP_MD* method = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (method == nullptr) std::abort();  // OpenSSL without SHA-256: nothing can be verified
  return method;
}

// OpenSSL fails a digest only when it cannot allocate; like operator new, that ends the process.
// One context per thread is reused: EVP_Digest would allocate and free one per call (API keys are
// digested on every request).
Sha256 sha256(std::span<const unsigned char> data) noexcept {
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  Sha256 out{};
  unsigned int length = 0;
  if (context == nullptr || EVP_DigestInit_ex(context.get(), sha256_method(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), out.data(), &length) != 1 || length != out.size())
    std::abort();
  return out;
}

Sha256 sha256(std::string_view data) noexcept {
  return sha256(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(data.data()), data.size()));
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(context_); }

void Sha256Hasher::start() noexcept {
  if (context_ != nullptr) return;
  context_ = EVP_MD_CTX_new();
  if (context_ == nullptr || EVP_DigestInit_ex(context_, sha256_method(), nullptr) != 1) std::abort();
}

void Sha256Hasher::update(std::string_view data) noexcept {
  start();
  if (EVP_DigestUpdate(context_, data.data(), data.size()) != 1) std::abort();
}

Sha256 Sha256Hasher::finish() noexcept {
  start();
  Sha256 out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_, out.data(), &length) != 1 || length != out.size()) std::abort();
  return out;
}

Sha256 Sha256Hasher::finish_with(std::string_view tail) noexcept {
  start();
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, context_) != 1 || EVP_DigestUpdate(copy, tail.data(), tail.size()) != 1)
    std::abort();
  Sha256 out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(copy, out.data(), &length) != 1 || length != out.size()) std::abort();
  EVP_MD_CTX_free(copy);
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
