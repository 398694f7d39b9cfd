#include "accel/gguf/gguf_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "accel/gguf/gguf_reader_cursor.hpp"
#include "accel/tokenizer/utf8.hpp"

namespace sovereign::accel::gguf {

std::string Error::to_string() const {
  // Fields and messages quote the file's own names and strings: shown escaped, never sent to a terminal.
  return "byte " + std::to_string(byte_offset) + " (" + utf8::printable(field) + "): " + utf8::printable(message);
}

std::uint64_t TensorInfo::element_count() const noexcept {
  std::uint64_t n = 1;
  for (const auto d : dims) n *= d;
  return n;
}

// Owns the mapping (when opened from a path) and everything parsed from it; never moves once built.
struct File::State {
  void* mapping = nullptr;
  std::size_t mapping_size = 0;
  std::span<const std::byte> bytes;
  std::uint32_t version = 0;
  std::uint64_t alignment = kDefaultAlignment;
  std::vector<std::pair<std::string, Value>> metadata;
  std::map<std::string, std::size_t, std::less<>> metadata_index;
  std::vector<std::uint64_t> value_offsets;  // (metadata) where each entry's value type starts
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::size_t, std::less<>> tensor_index;

  ~State() {
    if (mapping != nullptr) ::munmap(mapping, mapping_size);
  }
};

File::File(std::unique_ptr<State> state) : state_(std::move(state)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

std::variant<File, Error> File::open(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO (or a device) named as the model would otherwise wait for a writer
  // forever; it is refused below as not a regular file. Regular files ignore the flag.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Error{0, "file", "cannot open " + path.string() + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{0, "file", path.string() + " is not a regular file"};
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Error{0, "magic", path.string() + " is empty; a GGUF file starts with the bytes \"GGUF\""};
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (mapping == MAP_FAILED) {
    return Error{0, "file", "cannot map " + path.string() + ": " + std::strerror(map_errno)};
  }
  auto state = std::make_unique<State>();
  state->mapping = mapping;
  state->mapping_size = size;
  state->bytes = std::span<const std::byte>(static_cast<const std::byte*>(mapping), size);
  if (auto error = parse_into(*state)) return *std::move(error);
  return File(std::move(state));
}

std::variant<File, Error> File::parse(std::span<const std::byte> bytes) {
  auto state = std::make_unique<State>();
  state->bytes = bytes;
  if (auto error = parse_into(*state)) return *std::move(error);
  return File(std::move(state));
}

// Parses the header, metadata and tensor directory of `state.bytes` into `state`.
std::optional<Error> File::parse_into(State& state) {
  Cursor cursor(state.bytes);
  const std::uint64_t magic_at = cursor.offset();
  std::array<std::byte, 4> magic{};
  if (!cursor.read_bytes(magic.data(), magic.size(), "magic")) return cursor.error();
  if (std::memcmp(magic.data(), "GGUF", 4) != 0) {
    return Error{magic_at, "magic", "not a GGUF file: the first four bytes are not \"GGUF\""};
  }
  const std::uint64_t version_at = cursor.offset();
  std::uint32_t version = 0;
  if (!cursor.read(version, "version")) return cursor.error();
  if (version != 2 && version != 3) {
    return Error{version_at, "version",
                 "GGUF version " + std::to_string(version) + " is not supported (expected 3, or 2 which has the same layout)"};
  }
  state.version = version;

  std::uint64_t tensor_count = 0;
  const std::uint64_t tensor_count_at = cursor.offset();
  if (!cursor.read(tensor_count, "tensor_count")) return cursor.error();
  if (tensor_count > kMaxTensors) {
    return Error{tensor_count_at, "tensor_count",
                 std::to_string(tensor_count) + " tensors exceeds the limit of " + std::to_string(kMaxTensors)};
  }
  std::uint64_t kv_count = 0;
  const std::uint64_t kv_count_at = cursor.offset();
  if (!cursor.read(kv_count, "metadata_kv_count")) return cursor.error();
  if (kv_count > kMaxMetadataEntries) {
    return Error{kv_count_at, "metadata_kv_count",
                 std::to_string(kv_count) + " entries exceeds the limit of " + std::to_string(kMaxMetadataEntries)};
  }

  // Each entry takes at least a key length, a type and one byte of value; a count the file cannot hold is
  // rejected before anything is reserved for it.
  if (kv_count > cursor.remaining() / 13) {
    return Error{kv_count_at, "metadata_kv_count",
                 std::to_string(kv_count) + " entries cannot fit in the " + std::to_string(cursor.remaining()) +
                     " bytes that follow"};
  }
  state.metadata.reserve(kv_count);
  std::vector<std::uint64_t>& value_offsets = state.value_offsets;
  value_offsets.reserve(kv_count);
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    const std::string prefix = "metadata[" + std::to_string(i) + "]";
    const std::uint64_t key_at = cursor.offset();
    std::string key;
    if (!cursor.read_string(key, prefix + ".key")) return cursor.error();
    if (key.empty()) return Error{key_at, prefix + ".key", "the key is empty"};
    if (state.metadata_index.count(key) != 0) {
      return Error{key_at, prefix + ".key", "duplicate key \"" + key + "\""};
    }
    value_offsets.push_back(cursor.offset());
    Value value;
    if (!cursor.read_value(value, prefix + " (" + key + ")")) return cursor.error();
    state.metadata_index.emplace(key, state.metadata.size());
    state.metadata.emplace_back(std::move(key), std::move(value));
  }

  if (const auto it = state.metadata_index.find("general.alignment"); it != state.metadata_index.end()) {
    const Value& value = state.metadata[it->second].second;
    const auto* alignment = std::get_if<std::uint32_t>(&value);
    if (alignment == nullptr || *alignment == 0 || (*alignment & (*alignment - 1)) != 0 ||
        *alignment > kMaxAlignment) {
      return Error{value_offsets[it->second], "general.alignment",
                   "must be a u32 power of two between 1 and " + std::to_string(kMaxAlignment)};
    }
    state.alignment = *alignment;
  }

  // A tensor entry takes at least a name length, a dim count, one dim, a type and an offset.
  if (tensor_count > cursor.remaining() / 32) {
    return Error{tensor_count_at, "tensor_count",
                 std::to_string(tensor_count) + " tensors cannot fit in the " + std::to_string(cursor.remaining()) +
                     " bytes that follow"};
  }
  state.tensors.reserve(tensor_count);
  std::vector<std::uint64_t> entry_offsets;
  entry_offsets.reserve(tensor_count);
  // Where each entry's offset field is: its last 8 bytes.
  std::vector<std::uint64_t> offset_field_offsets;
  offset_field_offsets.reserve(tensor_count);
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    entry_offsets.push_back(cursor.offset());
    TensorInfo info;
    if (!cursor.read_tensor_info(info, "tensor_infos[" + std::to_string(i) + "]", state.alignment)) {
      return cursor.error();
    }
    offset_field_offsets.push_back(cursor.offset() - sizeof(std::uint64_t));
    if (state.tensor_index.count(info.name) != 0) {
      return Error{entry_offsets.back(), "tensor_infos[" + std::to_string(i) + "].name",
                   "duplicate tensor name \"" + info.name + "\""};
    }
    state.tensor_index.emplace(info.name, state.tensors.size());
    state.tensors.push_back(std::move(info));
  }

  const std::uint64_t directory_end = cursor.offset();
  const std::uint64_t data_start = (directory_end + state.alignment - 1) / state.alignment * state.alignment;
  const std::uint64_t file_size = state.bytes.size();
  if (data_start > file_size && !state.tensors.empty()) {
    return Error{directory_end, "tensor_data", "the file ends before its tensor data section"};
  }
  // Tensors must lie inside the file and not overlap: sort their ranges and compare neighbours.
  std::vector<std::pair<std::uint64_t, std::size_t>> by_offset;
  by_offset.reserve(state.tensors.size());
  for (std::size_t i = 0; i < state.tensors.size(); ++i) {
    TensorInfo& info = state.tensors[i];
    const std::string field = "tensor_infos[" + std::to_string(i) + "] (" + info.name + ").offset";
    if (info.offset_in_file > file_size - std::min(file_size, data_start) ||
        info.n_bytes > file_size - data_start - info.offset_in_file) {
      // An offset near 2^64 wraps when added to the data section's start and would name a range
      // inside the file: such an offset is shown as the file gives it.
      const bool wraps = info.offset_in_file > std::numeric_limits<std::uint64_t>::max() - data_start;
      const std::string range =
          wraps ? "at offset " + std::to_string(info.offset_in_file) + " from the data section's start (byte " +
                      std::to_string(data_start) + "), " + std::to_string(info.n_bytes) + " bytes,"
                : "[" + std::to_string(data_start + info.offset_in_file) + ", +" + std::to_string(info.n_bytes) + ")";
      return Error{offset_field_offsets[i], field,
                   "tensor data " + range + " lies outside the " + std::to_string(file_size) + "-byte file"};
    }
    info.offset_in_file += data_start;
    info.data = state.bytes.subspan(info.offset_in_file, info.n_bytes);
    by_offset.emplace_back(info.offset_in_file, i);
  }
  std::sort(by_offset.begin(), by_offset.end());
  for (std::size_t k = 1; k < by_offset.size(); ++k) {
    const TensorInfo& previous = state.tensors[by_offset[k - 1].second];
    const TensorInfo& current = state.tensors[by_offset[k].second];
    if (previous.offset_in_file + previous.n_bytes > current.offset_in_file) {
      return Error{offset_field_offsets[by_offset[k].second],
                   "tensor_infos[" + std::to_string(by_offset[k].second) + "] (" + current.name + ").offset",
                   "tensor data overlaps that of \"" + previous.name + "\""};
    }
  }
  return std::nullopt;
}

namespace {

// A field of an image already validated by parse_into, at a known offset.
template <typename T>
T read_validated(std::span<const std::byte> bytes, std::uint64_t offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

template <typename T>
const T* find_as(const File& file, std::string_view key) {
  const Value* value = file.find(key);
  return value != nullptr ? std::get_if<T>(value) : nullptr;
}

}  // namespace

std::string value_type_name(const Value& value) {
  static constexpr const char* kNames[] = {"u8",  "i8",  "u16", "i16", "u32", "i32", "u64", "i64",
                                           "f32", "f64", "bool", "string"};
  constexpr std::size_t kScalars = std::size(kNames);
  const std::size_t index = value.index();
  if (index < kScalars) return kNames[index];
  return std::string("array[") + kNames[index - kScalars] + "]";
}

std::string metadata_key_label(const File& file, std::string_view key) {
  std::string label = "metadata key " + utf8::quoted(key);
  if (const auto at = file.value_offset(key)) label += " (byte " + std::to_string(*at) + ")";
  return label;
}

std::string metadata_element_label(const File& file, std::string_view key, std::uint64_t index) {
  std::string label = "metadata key " + utf8::quoted(key) + "[" + std::to_string(index) + "]";
  if (const auto at = file.element_offset(key, index)) label += " (byte " + std::to_string(*at) + ")";
  return label;
}

std::string metadata_type_error(const File& file, std::string_view key, std::string_view expected) {
  const Value* value = file.find(key);
  if (value == nullptr) return metadata_key_label(file, key) + " is missing; expected " + std::string(expected);
  return metadata_key_label(file, key) + " is " + value_type_name(*value) + "; expected " + std::string(expected);
}

std::uint32_t File::version() const { return state_->version; }
std::uint64_t File::alignment() const { return state_->alignment; }
std::uint64_t File::file_size() const { return state_->bytes.size(); }

const Value* File::find(std::string_view key) const {
  const auto it = state_->metadata_index.find(key);
  return it == state_->metadata_index.end() ? nullptr : &state_->metadata[it->second].second;
}

std::optional<std::uint64_t> File::value_offset(std::string_view key) const {
  const auto it = state_->metadata_index.find(key);
  if (it == state_->metadata_index.end()) return std::nullopt;
  return state_->value_offsets[it->second];
}

std::optional<std::uint64_t> File::element_offset(std::string_view key, std::uint64_t index) const {
  const auto at = value_offset(key);
  if (!at) return std::nullopt;
  // The entry was validated when the file was opened, so its fields can be read back without bounds checks.
  const std::span<const std::byte> bytes = state_->bytes;
  if (read_validated<std::uint32_t>(bytes, *at) != static_cast<std::uint32_t>(ValueTypeCode::array))
    return std::nullopt;
  const auto element_type = static_cast<ValueTypeCode>(read_validated<std::uint32_t>(bytes, *at + 4));
  if (index >= read_validated<std::uint64_t>(bytes, *at + 8)) return std::nullopt;
  std::uint64_t offset = *at + 16;
  if (element_type != ValueTypeCode::string) return offset + index * min_encoded_size(element_type);
  for (std::uint64_t i = 0; i < index; ++i)
    offset += sizeof(std::uint64_t) + read_validated<std::uint64_t>(bytes, offset);
  return offset;
}

std::optional<std::int64_t> File::get_int(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) return std::nullopt;
  return std::visit(
      [](const auto& v) -> std::optional<std::int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::uint64_t>) {
          if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
          return static_cast<std::int64_t>(v);
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<std::int64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      *value);
}

std::optional<double> File::get_float(std::string_view key) const {
  if (const auto* f = find_as<float>(*this, key)) return *f;
  if (const auto* d = find_as<double>(*this, key)) return *d;
  return std::nullopt;
}

std::optional<bool> File::get_bool(std::string_view key) const {
  if (const auto* b = find_as<bool>(*this, key)) return *b;
  return std::nullopt;
}

std::optional<std::string_view> File::get_string(std::string_view key) const {
  if (const auto* s = find_as<std::string>(*this, key)) return std::string_view(*s);
  return std::nullopt;
}

const std::vector<std::string>* File::get_string_array(std::string_view key) const {
  return find_as<std::vector<std::string>>(*this, key);
}

const std::vector<float>* File::get_float_array(std::string_view key) const {
  return find_as<std::vector<float>>(*this, key);
}

const std::vector<std::int32_t>* File::get_int_array(std::string_view key) const {
  return find_as<std::vector<std::int32_t>>(*this, key);
}

const TensorInfo* File::tensor(std::string_view name) const {
  const auto it = state_->tensor_index.find(name);
  return it == state_->tensor_index.end() ? nullptr : &state_->tensors[it->second];
}

std::span<const TensorInfo> File::tensors() const { return state_->tensors; }

std::span<const std::pair<std::string, Value>> File::metadata() const { return state_->metadata; }

}  // namespace sovereign::accel::gguf
