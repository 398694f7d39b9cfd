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
class Writer {
 public:
  void set(std::string key, Value v);  // replaces an existing key, keeping its position
  void remove(std::string_view key);   // no-op when the key is absent
  // `data` must hold exactly the bytes of `dims` elements of `type`; write() reports it otherwise.
  void add_tensor(std::string name, std::vector<std::uint64_t> dims, TensorType type, std::vector<std::byte> data);
  [[nodiscard]] std::optional<std::string> write(const std::filesystem::path& path) const;  // error or nullopt
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
