#include "accel/gguf/gguf_writer.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <span>

#include "accel/gguf/gguf_reader_cursor.hpp"

namespace sovereign::accel::gguf {
namespace {

constexpr std::uint32_t kVersion = 3;

class ByteSink {
 public:
  explicit ByteSink(std::vector<std::byte>& out) : out_(out) {}

  template <typename T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }
  void pad_to(std::uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(std::byte{0});
  }
  void put_bytes(const std::vector<std::byte>& bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }

 private:
  std::vector<std::byte>& out_;
};

// The GGUF type code of each Value alternative, in the variant's order (scalars, then arrays of them).
constexpr ValueTypeCode kScalarCodes[] = {
    ValueTypeCode::u8,  ValueTypeCode::i8,  ValueTypeCode::u16, ValueTypeCode::i16,
    ValueTypeCode::u32, ValueTypeCode::i32, ValueTypeCode::u64, ValueTypeCode::i64,
    ValueTypeCode::f32, ValueTypeCode::f64, ValueTypeCode::boolean, ValueTypeCode::string,
};

template <typename T>
void put_element(ByteSink& sink, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    sink.put_string(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    sink.put(static_cast<std::uint8_t>(v ? 1 : 0));
  } else {
    sink.put(v);
  }
}

void put_value(ByteSink& sink, const Value& value) {
  constexpr std::size_t kScalars = std::size(kScalarCodes);
  const std::size_t index = value.index();
  if (index < kScalars) {
    sink.put(static_cast<std::uint32_t>(kScalarCodes[index]));
  } else {
    sink.put(static_cast<std::uint32_t>(ValueTypeCode::array));
    sink.put(static_cast<std::uint32_t>(kScalarCodes[index - kScalars]));
  }
  std::visit(
      [&sink](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::vector<bool>>) {
          sink.put(static_cast<std::uint64_t>(v.size()));
          for (const bool b : v) put_element(sink, b);
        } else if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string>) {
          sink.put(static_cast<std::uint64_t>(v.size()));
          for (const auto& element : v) put_element(sink, element);
        } else {
          put_element(sink, v);
        }
      },
      value);
}

}  // namespace

void Writer::set(std::string key, Value v) {
  for (auto& entry : metadata_) {
    if (entry.first == key) {
      entry.second = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(v));
}

void Writer::remove(std::string_view key) {
  std::erase_if(metadata_, [&](const auto& entry) { return entry.first == key; });
}

void Writer::add_tensor(std::string name, std::vector<std::uint64_t> dims, TensorType type,
                        std::vector<std::byte> data) {
  tensors_.push_back(PendingTensor{std::move(name), std::move(dims), type, std::move(data)});
}

std::optional<std::string> Writer::serialize(std::vector<std::byte>& out) const {
  std::uint64_t alignment = kDefaultAlignment;
  for (const auto& [key, value] : metadata_) {
    if (key != "general.alignment") continue;
    const auto* a = std::get_if<std::uint32_t>(&value);
    if (a == nullptr || *a == 0 || (*a & (*a - 1)) != 0 || *a > kMaxAlignment) {
      return "general.alignment must be a u32 power of two up to " + std::to_string(kMaxAlignment);
    }
    alignment = *a;
  }
  std::set<std::string_view> names;
  std::vector<std::uint64_t> offsets;
  std::uint64_t next_offset = 0;
  for (const auto& tensor : tensors_) {
    if (tensor.name.empty() || tensor.name.size() > kMaxTensorNameBytes) {
      return "tensor \"" + tensor.name + "\": the name must be 1 to " + std::to_string(kMaxTensorNameBytes) + " bytes";
    }
    if (!names.insert(tensor.name).second) return "tensor \"" + tensor.name + "\" is added twice";
    if (tensor.dims.empty() || tensor.dims.size() > kMaxDims) {
      return "tensor \"" + tensor.name + "\": 1 to " + std::to_string(kMaxDims) + " dimensions are supported";
    }
    std::uint64_t elements = 1;
    for (const auto d : tensor.dims) {
      if (d == 0 || __builtin_mul_overflow(elements, d, &elements)) {
        return "tensor \"" + tensor.name + "\": every dimension must be at least 1 and their product must fit in 64 bits";
      }
    }
    const TypeTraits* traits = type_traits(tensor.type);
    const auto expected = bytes_for_elements(tensor.type, elements);
    if (traits == nullptr || !expected || tensor.dims[0] % traits->block_elems != 0) {
      return "tensor \"" + tensor.name + "\": its shape is not a whole number of blocks of its type";
    }
    if (*expected != tensor.data.size()) {
      return "tensor \"" + tensor.name + "\": " + std::to_string(tensor.data.size()) + " bytes given, " +
             std::to_string(*expected) + " expected for its shape and type";
    }
    offsets.push_back(next_offset);
    next_offset += (tensor.data.size() + alignment - 1) / alignment * alignment;
  }

  out.clear();
  ByteSink sink(out);
  sink.put(std::array<char, 4>{'G', 'G', 'U', 'F'});
  sink.put(kVersion);
  sink.put(static_cast<std::uint64_t>(tensors_.size()));
  sink.put(static_cast<std::uint64_t>(metadata_.size()));
  for (const auto& [key, value] : metadata_) {
    sink.put_string(key);
    put_value(sink, value);
  }
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const auto& tensor = tensors_[i];
    sink.put_string(tensor.name);
    sink.put(static_cast<std::uint32_t>(tensor.dims.size()));
    for (const auto d : tensor.dims) sink.put(d);
    sink.put(static_cast<std::uint32_t>(tensor.type));
    sink.put(offsets[i]);
  }
  sink.pad_to(alignment);
  for (const auto& tensor : tensors_) {
    sink.put_bytes(tensor.data);
    sink.pad_to(alignment);
  }
  return std::nullopt;
}

namespace {

// The type of what is at `path` itself (a symlink is a symlink, whatever it points to).
std::filesystem::file_type type_at(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::symlink_status(path, ec).type();
}

}  // namespace

std::optional<std::string> existing_file_kind(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  switch (type_at(path)) {
    case fs::file_type::none:
    case fs::file_type::not_found: return std::nullopt;
    case fs::file_type::regular: return "a regular file";
    case fs::file_type::directory: return "a directory";
    case fs::file_type::symlink: return "a symbolic link";
    case fs::file_type::block: return "a block device";
    case fs::file_type::character: return "a character device";
    case fs::file_type::fifo: return "a FIFO (named pipe)";
    case fs::file_type::socket: return "a socket";
    default: return "a file of an unknown type";
  }
}

namespace {

// Only a regular file may be replaced: renaming over a device node, FIFO or symlink would silently swap
// a system file (or a link's target's name) for a model.
std::optional<std::string> refuse_target(const std::filesystem::path& path, Writer::Replace replace) {
  const auto kind = existing_file_kind(path);
  if (!kind) return std::nullopt;
  if (type_at(path) != std::filesystem::file_type::regular) {
    return "refusing to write " + path.string() + ": it is " + *kind +
           "; a model is written only to a new path or over a regular file";
  }
  if (replace == Writer::Replace::nothing) return path.string() + " already exists";
  return std::nullopt;
}

std::optional<std::string> write_new_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  // O_NOFOLLOW: a symlink planted at the partial path is not written through.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create " + path.string() + ": " + std::strerror(errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string error = "cannot write " + path.string() + ": " + std::strerror(n < 0 ? errno : EIO);
      ::close(fd);
      return error;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return "cannot write " + path.string() + ": " + std::strerror(errno);
  return std::nullopt;
}

// rename() that fails with EEXIST instead of replacing `to` (atomic where the file system supports it).
int rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (::link(from.c_str(), to.c_str()) != 0) return -1;
  ::unlink(from.c_str());
  return 0;
}

}  // namespace

std::optional<std::string> Writer::write(const std::filesystem::path& path, Replace replace) const {
  if (auto refusal = refuse_target(path, replace)) return refusal;
  std::vector<std::byte> bytes;
  if (auto error = serialize(bytes)) return error;
  // Written beside the target and renamed, so a reader never maps a half-written model.
  std::filesystem::path partial = path;
  partial += ".partial";
  if (const auto kind = existing_file_kind(partial); kind && type_at(partial) != std::filesystem::file_type::regular) {
    return "refusing to write " + partial.string() + ": it is " + *kind + "; remove it or choose another path";
  }
  if (auto error = write_new_file(partial, bytes)) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    return error;
  }
  // Checked again: the target may have appeared while the file was written.
  auto refusal = refuse_target(path, replace);
  if (!refusal) {
    const int renamed =
        replace == Replace::nothing ? rename_no_replace(partial, path) : ::rename(partial.c_str(), path.c_str());
    const int error = errno;
    if (renamed != 0) {
      refusal = error == EEXIST && replace == Replace::nothing
                    ? path.string() + " already exists"
                    : "cannot rename " + partial.string() + " to " + path.string() + ": " + std::strerror(error);
    }
  }
  if (refusal) {
    std::error_code ignored;  // the refusal is the error to report
    std::filesystem::remove(partial, ignored);
    return refusal;
  }
  return std::nullopt;
}

}  // namespace sovereign::accel::gguf
