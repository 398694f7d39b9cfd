#pragma once
// Typed access to a yaml-cpp document that records every problem as FILE:LINE:COL: message
// instead of throwing, and rejects unknown keys with a "did you mean" suggestion.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

class YamlReader {
 public:
  explicit YamlReader(std::filesystem::path file) : file_(std::move(file)) {}

  void error(const YAML::Mark& mark, std::string message);
  // A key missing from a mapping reads as an invalid node, whose mark yaml-cpp throws for instead of
  // giving: such an error is placed at 1:1.
  void error(const YAML::Node& node, std::string message) {
    error(node.IsDefined() ? node.Mark() : YAML::Mark::null_mark(), std::move(message));
  }
  bool ok() const { return errors_.empty(); }
  std::size_t error_count() const { return errors_.size(); }
  std::vector<ConfigError> take_errors() { return std::move(errors_); }
  const std::filesystem::path& file() const { return file_; }

  // Reports keys of `map` that are not in `allowed`; false if `map` is not a mapping.
  bool expect_map(const YAML::Node& map, std::string_view what, std::initializer_list<std::string_view> allowed);
  bool expect_sequence(const YAML::Node& node, std::string_view what);

  // Each returns false (with an error recorded) when the key is present but malformed;
  // an absent key leaves `out` untouched and returns true unless `required`.
  bool string(const YAML::Node& map, std::string_view key, std::string& out, bool required = false);
  bool path(const YAML::Node& map, std::string_view key, std::filesystem::path& out, bool required = false);
  bool boolean(const YAML::Node& map, std::string_view key, bool& out);
  bool unsigned_integer(const YAML::Node& map, std::string_view key, std::uint64_t& out, std::uint64_t min,
                        std::uint64_t max, bool required = false);
  bool milliseconds(const YAML::Node& map, std::string_view key, Milliseconds& out, std::uint64_t min_ms,
                    std::uint64_t max_ms);
  bool string_list(const YAML::Node& map, std::string_view key, std::vector<std::string>& out, bool required = false);

  template <typename Integer>
  bool integer(const YAML::Node& map, std::string_view key, Integer& out, std::uint64_t min, std::uint64_t max,
               bool required = false) {
    std::uint64_t value = out;
    if (!unsigned_integer(map, key, value, min, max, required)) return false;
    out = static_cast<Integer>(value);
    return true;
  }

  // Resolves a path from the file against the directory holding the config file.
  std::filesystem::path resolve(const std::filesystem::path& p) const;

 private:
  std::filesystem::path file_;
  std::vector<ConfigError> errors_;
};

// The closest candidate within a small edit distance, or empty.
std::string closest_match(std::string_view word, std::initializer_list<std::string_view> candidates);

}  // namespace sovereign::gateway
