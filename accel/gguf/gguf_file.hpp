// Read-only, memory-mapped GGUF v3 model file whose every field is validated when it is opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "accel/gguf/quantize.hpp"
#include "accel/gguf/tensor_type.hpp"

namespace sovereign::accel::gguf {

// One tensor's directory entry; `data` views the mapped file and lives as long as the File.
struct TensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;  // dims[0] is the contiguous (row) dim, as in ggml
  TensorType type = TensorType::f32;
  std::uint64_t offset_in_file = 0;
  std::uint64_t n_bytes = 0;
  std::span<const std::byte> data;

  std::uint64_t element_count() const noexcept;
};

// A metadata value: a scalar, a string, or a flat array of one of those (nested arrays are rejected).
using Value = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t,
                           std::uint64_t, std::int64_t, float, double, bool, std::string,
                           std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
                           std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>,
                           std::vector<std::uint64_t>, std::vector<std::int64_t>, std::vector<float>,
                           std::vector<double>, std::vector<bool>, std::vector<std::string>>;

// Why a file was rejected: the byte offset and field where reading stopped, and what is wrong there.
struct Error {
  std::uint64_t byte_offset = 0;
  std::string field;
  std::string message;
  std::string to_string() const;  // "byte 24 (tensor_count): ..."
};

// Limits that keep a hostile file from exhausting memory before it is rejected.
inline constexpr std::uint64_t kMaxTensors = 1u << 20;
inline constexpr std::uint64_t kMaxMetadataEntries = 1u << 16;
inline constexpr std::uint64_t kMaxStringBytes = 1u << 20;
inline constexpr std::uint64_t kMaxArrayElements = 1u << 24;
inline constexpr std::uint32_t kMaxDims = 4;
inline constexpr std::uint64_t kMaxTensorNameBytes = 64;  // ggml's GGML_MAX_NAME
inline constexpr std::uint64_t kDefaultAlignment = 32;
inline constexpr std::uint64_t kMaxAlignment = 1u << 16;

// A GGUF v3 file: metadata, tensor directory and mapped tensor data; move-only.
class File {
 public:
  [[nodiscard]] static std::variant<File, Error> open(const std::filesystem::path& path);
  // Validates an in-memory image (used by fuzzing); the bytes must outlive the File.
  [[nodiscard]] static std::variant<File, Error> parse(std::span<const std::byte> bytes);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  std::uint32_t version() const;
  std::uint64_t alignment() const;
  std::uint64_t file_size() const;

  const Value* find(std::string_view key) const;
  // Byte offset of a metadata entry's value (its type tag), for errors that name the key; nullopt if absent.
  std::optional<std::uint64_t> value_offset(std::string_view key) const;
  // Byte offset of element `index` of an array entry (a string's length field); nullopt if the key is absent,
  // not an array, or the index is out of range.
  std::optional<std::uint64_t> element_offset(std::string_view key, std::uint64_t index) const;
  std::optional<std::int64_t> get_int(std::string_view key) const;  // accepts any integer kind that fits
  std::optional<double> get_float(std::string_view key) const;      // f32 or f64
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  const std::vector<std::string>* get_string_array(std::string_view key) const;
  const std::vector<float>* get_float_array(std::string_view key) const;         // e.g. tokenizer.ggml.scores
  const std::vector<std::int32_t>* get_int_array(std::string_view key) const;    // e.g. tokenizer.ggml.token_type

  const TensorInfo* tensor(std::string_view name) const;
  std::span<const TensorInfo> tensors() const;
  std::span<const std::pair<std::string, Value>> metadata() const;

 private:
  struct State;
  explicit File(std::unique_ptr<State> state);
  static std::optional<Error> parse_into(State& state);
  std::unique_ptr<State> state_;
};

// "metadata key 'KEY' (byte N)", for errors about a key's value: N is where the value lies in the
// file (its type tag); without the key in the file, just "metadata key 'KEY'".
std::string metadata_key_label(const File& file, std::string_view key);
// "metadata key 'KEY'[I] (byte N)", for errors about one element of an array: N is where that element lies.
std::string metadata_element_label(const File& file, std::string_view key, std::uint64_t index);
// "metadata key 'KEY' (byte N) is TYPE; expected EXPECTED", or "... is missing; expected EXPECTED" without the key.
std::string metadata_type_error(const File& file, std::string_view key, std::string_view expected);

// The GGUF type name of a value ("u32", "string", "array[string]"), for `model info` and error messages.
std::string value_type_name(const Value& value);

}  // namespace sovereign::accel::gguf
