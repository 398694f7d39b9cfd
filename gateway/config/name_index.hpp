#pragma once
// NameIndex: a hash map from names in gateway.yaml (tenants' certificate names, models) to what they
// name, looked up with a string_view straight from the request, without building a std::string.
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sovereign::gateway {

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};

template <class Value>
using NameIndex = std::unordered_map<std::string, Value, NameHash, std::equal_to<>>;

}  // namespace sovereign::gateway
