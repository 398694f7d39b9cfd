// GGUF tensor element types and their block geometry (shared by the reader, writer and compute code).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace sovereign::accel::gguf {

// The subset of ggml types this engine reads; the numeric values are ggml's.
enum class TensorType : std::uint32_t { f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_k = 12, q6_k = 14, bf16 = 30 };

// Block geometry of one type: a row of n elements takes n / block_elems * block_bytes bytes.
struct TypeTraits {
  std::uint32_t block_elems;
  std::uint32_t block_bytes;
  const char* name;
};

// nullptr for types this engine does not support.
const TypeTraits* type_traits(TensorType) noexcept;

// Parses "f32", "q8_0", ... (the names in TypeTraits); nullopt for unknown names.
std::optional<TensorType> tensor_type_from_name(const char* name) noexcept;

// Bytes taken by n elements of `type`, or nullopt when n is not a whole number of blocks or it overflows.
std::optional<std::uint64_t> bytes_for_elements(TensorType type, std::uint64_t n) noexcept;

}  // namespace sovereign::accel::gguf
