// Bounds-checked sequential reader over a GGUF image; each failed read records the field and byte offset.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF is read in place on little-endian hosts only");

// GGUF metadata value type codes.
enum class ValueTypeCode : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};

// Smallest number of bytes one element of each type occupies in the file (strings: their length field;
// for every type but strings and arrays, exactly its size).
std::uint64_t min_encoded_size(ValueTypeCode code);

class Cursor {
 public:
  explicit Cursor(std::span<const std::byte> bytes) : bytes_(bytes) {}

  std::uint64_t offset() const { return position_; }
  std::uint64_t remaining() const { return bytes_.size() - position_; }
  const Error& error() const { return error_; }

  bool read_bytes(void* out, std::uint64_t n, const std::string& field);

  template <typename T>
  bool read(T& out, const std::string& field) {
    return read_bytes(&out, sizeof(T), field);
  }

  bool read_string(std::string& out, const std::string& field);
  bool read_value(Value& out, const std::string& field);
  bool read_tensor_info(TensorInfo& out, const std::string& field, std::uint64_t alignment);

 private:
  bool fail(std::uint64_t at, const std::string& field, std::string message);
  bool read_scalar(ValueTypeCode code, Value& out, const std::string& field);
  bool read_array(Value& out, const std::string& field);
  template <typename T>
  bool read_array_of(std::uint64_t count, Value& out, const std::string& field);

  std::span<const std::byte> bytes_;
  std::uint64_t position_ = 0;
  Error error_;
};

}  // namespace sovereign::accel::gguf
