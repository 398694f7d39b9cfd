#pragma once
// SecretBytes: key material held in sodium_malloc'ed memory (guard pages, no swap) and zeroed on release.

#include <cstddef>
#include <cstdint>
#include <span>

namespace sovereign::crypto {

// Initialises libsodium once (thread-safe); aborts only if the library cannot start at all.
void ensure_sodium();

class SecretBytes {
 public:
  SecretBytes() = default;
  // Allocates size zeroed bytes; throws std::bad_alloc if the secure allocator is exhausted.
  explicit SecretBytes(std::size_t size);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<std::uint8_t> span() { return {data_, size_}; }
  std::span<const std::uint8_t> span() const { return {data_, size_}; }

 private:
  void release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace sovereign::crypto
