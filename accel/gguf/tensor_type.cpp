#include "accel/gguf/tensor_type.hpp"

#include <array>
#include <cstring>
#include <limits>

#include "accel/gguf/block_formats.hpp"

namespace sovereign::accel::gguf {
namespace {

struct TypeEntry {
  TensorType type;
  TypeTraits traits;
};

constexpr std::array<TypeEntry, 7> kTypes{{
    {TensorType::f32, {1, 4, "f32"}},
    {TensorType::f16, {1, 2, "f16"}},
    {TensorType::bf16, {1, 2, "bf16"}},
    {TensorType::q8_0, {kQ8_0BlockElems, sizeof(BlockQ8_0), "q8_0"}},
    {TensorType::q4_0, {kQ4_0BlockElems, sizeof(BlockQ4_0), "q4_0"}},
    {TensorType::q4_k, {kKBlockElems, sizeof(BlockQ4_K), "q4_k"}},
    {TensorType::q6_k, {kKBlockElems, sizeof(BlockQ6_K), "q6_k"}},
}};

}  // namespace

const TypeTraits* type_traits(TensorType type) noexcept {
  for (const auto& entry : kTypes) {
    if (entry.type == type) return &entry.traits;
  }
  return nullptr;
}

std::optional<TensorType> tensor_type_from_name(const char* name) noexcept {
  if (name == nullptr) return std::nullopt;
  for (const auto& entry : kTypes) {
    if (std::strcmp(entry.traits.name, name) == 0) return entry.type;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> bytes_for_elements(TensorType type, std::uint64_t n) noexcept {
  const TypeTraits* traits = type_traits(type);
  if (traits == nullptr || n % traits->block_elems != 0) return std::nullopt;
  const std::uint64_t blocks = n / traits->block_elems;
  if (blocks > std::numeric_limits<std::uint64_t>::max() / traits->block_bytes) return std::nullopt;
  return blocks * traits->block_bytes;
}

}  // namespace sovereign::accel::gguf
