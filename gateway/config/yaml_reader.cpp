#include "gateway/config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "policy/diagnostic.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::gateway {
namespace {

std::string in_quotes(std::string_view key) { return "'" + std::string(key) + "'"; }

}  // namespace

std::string closest_match(std::string_view word, std::initializer_list<std::string_view> candidates) {
  return policy::closest_name(word, std::span<const std::string_view>(candidates.begin(), candidates.size()));
}

void YamlReader::error(const YAML::Mark& mark, std::string message) {
  // yaml-cpp counts from 0; editors and compilers count from 1. A null mark (-1) means "unknown".
  errors_.push_back({file_.string(), mark.line >= 0 ? mark.line + 1 : 1, mark.column >= 0 ? mark.column + 1 : 1,
                     std::move(message)});
}

bool YamlReader::expect_map(const YAML::Node& map, std::string_view what,
                            std::initializer_list<std::string_view> allowed) {
  if (!map.IsMap()) {
    error(map, std::string(what) + " must be a mapping of keys to values");
    return false;
  }
  bool clean = true;
  // yaml-cpp keeps every occurrence of a repeated key and lookups find the first: an operator who
  // adds a setting below an old one would silently get the old one.
  std::set<std::string> seen;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) {
      error(entry.first, "keys in " + std::string(what) + " must be plain words");
      clean = false;
      continue;
    }
    const auto& key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      error(entry.first, in_quotes(key) + " appears twice in " + std::string(what));
      clean = false;
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string message = "unknown key " + in_quotes(key) + " in " + std::string(what);
    if (key == "<<") message += policy::merge_key_note;
    else if (auto suggestion = closest_match(key, allowed); !suggestion.empty())
      message += " (did you mean " + in_quotes(suggestion) + "?)";
    error(entry.first, message);
    clean = false;
  }
  return clean;
}

bool YamlReader::expect_sequence(const YAML::Node& node, std::string_view what) {
  if (node.IsSequence()) return true;
  error(node, std::string(what) + " must be a list");
  return false;
}

bool YamlReader::string(const YAML::Node& map, std::string_view key, std::string& out, bool required) {
  auto node = map[std::string(key)];
  if (!node) {
    if (required) error(map, "missing required key " + in_quotes(key));
    return !required;
  }
  if (!node.IsScalar() || node.Scalar().empty()) {
    error(node, in_quotes(key) + " must be a non-empty string");
    return false;
  }
  out = node.Scalar();
  return true;
}

bool YamlReader::path(const YAML::Node& map, std::string_view key, std::filesystem::path& out, bool required) {
  std::string text;
  if (!string(map, key, text, required)) return false;
  if (!text.empty()) out = resolve(text);
  return true;
}

bool YamlReader::boolean(const YAML::Node& map, std::string_view key, bool& out) {
  auto node = map[std::string(key)];
  if (!node) return true;
  if (node.IsScalar()) {
    const auto& s = node.Scalar();
    if (s == "true") return out = true, true;
    if (s == "false") return out = false, true;
  }
  error(node, in_quotes(key) + " must be true or false");
  return false;
}

bool YamlReader::unsigned_integer(const YAML::Node& map, std::string_view key, std::uint64_t& out,
                                  std::uint64_t min, std::uint64_t max, bool required) {
  auto node = map[std::string(key)];
  if (!node) {
    if (required) error(map, "missing required key " + in_quotes(key));
    return !required;
  }
  std::uint64_t value = 0;
  bool parsed = false;
  if (node.IsScalar()) {
    const auto& s = node.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    parsed = ec == std::errc() && end == s.data() + s.size() && !s.empty();
  }
  if (!parsed || value < min || value > max) {
    error(node, in_quotes(key) + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return false;
  }
  out = value;
  return true;
}

bool YamlReader::milliseconds(const YAML::Node& map, std::string_view key, Milliseconds& out, std::uint64_t min_ms,
                              std::uint64_t max_ms) {
  std::uint64_t value = static_cast<std::uint64_t>(out.count());
  if (!unsigned_integer(map, key, value, min_ms, max_ms)) return false;
  out = Milliseconds(value);
  return true;
}

bool YamlReader::string_list(const YAML::Node& map, std::string_view key, std::vector<std::string>& out,
                             bool required) {
  auto node = map[std::string(key)];
  if (!node) {
    if (required) error(map, "missing required key " + in_quotes(key));
    return !required;
  }
  if (!node.IsSequence()) {
    error(node, in_quotes(key) + " must be a list of strings, e.g. [a, b]");
    return false;
  }
  out.clear();
  bool clean = true;
  for (const auto& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      error(item, "entries of " + in_quotes(key) + " must be non-empty strings");
      clean = false;
      continue;
    }
    out.push_back(item.Scalar());
  }
  return clean;
}

std::filesystem::path YamlReader::resolve(const std::filesystem::path& p) const {
  if (p.is_absolute()) return p;
  return (std::filesystem::absolute(file_).parent_path() / p).lexically_normal();
}

}  // namespace sovereign::gateway
