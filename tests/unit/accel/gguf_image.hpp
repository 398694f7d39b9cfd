// Hand-assembled GGUF byte images for reader tests, so each field's byte offset is known exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace sovereign::accel::test {

class GgufImage {
 public:
  std::vector<std::byte> bytes;

  template <typename T>
  GgufImage& put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  GgufImage& raw(const std::string& s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes.insert(bytes.end(), p, p + s.size());
    return *this;
  }
  GgufImage& str(const std::string& s) { return put(static_cast<std::uint64_t>(s.size())).raw(s); }
  GgufImage& header(std::uint64_t tensors, std::uint64_t kvs, std::uint32_t version = 3) {
    return raw("GGUF").put(version).put(tensors).put(kvs);
  }
  GgufImage& pad(std::size_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(std::byte{0});
    return *this;
  }
  GgufImage& zeros(std::size_t n) {
    bytes.insert(bytes.end(), n, std::byte{0});
    return *this;
  }
  std::size_t size() const { return bytes.size(); }
};

}  // namespace sovereign::accel::test
