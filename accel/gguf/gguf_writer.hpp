// Builds GGUF v3 files (tests and `sovereign model make-demo`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::gguf {

// Accumulates metadata and tensors in order, then writes them as one aligned GGUF v3 file.
// What an existing path is, in words ("a directory", "a FIFO (named pipe)", ...); nullopt when nothing is there.
[[nodiscard]] std::optional<std::string> existing_file_kind(const std::filesystem::path& path);

class Writer {
 public:
  void set(std::string key, Value v);  // replaces an existing key, keeping its position
  void remove(std::string_view key);   // no-op when the key is absent
  // `data` must hold exactly the bytes of `dims` elements of `type`; write() reports it otherwise.
  void add_tensor(std::string name, std::vector<std::uint64_t> dims, TensorType type, std::vector<std::byte> data);
  // What write() may put its file in place of: never a directory, symlink, device, FIFO or socket; an existing
  // regular file only when asked to.
  enum class Replace { nothing, regular_file };
  // Writes `path` (through `path`.partial, renamed into place); an error or nullopt.
  [[nodiscard]] std::optional<std::string> write(const std::filesystem::path& path,
                                                 Replace replace = Replace::regular_file) const;
  [[nodiscard]] std::optional<std::string> serialize(std::vector<std::byte>& out) const;   // same, in memory

 private:
  struct PendingTensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    TensorType type;
    std::vector<std::byte> data;
  };
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace sovereign::accel::gguf
