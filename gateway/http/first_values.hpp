#pragma once
// Several header fields of one message read in one pass over its fields. Each fields[name] of Beast
// searches the field set (a tree ordered by case-insensitive name) anew; a backend's answer has a
// handful of fields, and the forwarder reads three of them from every answer.
#include <array>
#include <cstddef>
#include <string_view>

#include <boost/beast/http/field.hpp>

namespace sovereign::gateway {

// The value of the first field named each of `names` (empty where there is none): what
// fields[names[i]] gives, as Beast keeps fields of one name in the order they came, and names a
// field it knows by its enum whatever the case it was written in.
template <std::size_t N, class Fields>
std::array<std::string_view, N> first_values(const Fields& fields, const std::array<boost::beast::http::field, N>& names) {
  std::array<std::string_view, N> values{};
  std::array<bool, N> seen{};
  for (const auto& f : fields) {
    for (std::size_t i = 0; i < N; ++i) {
      if (seen[i] || f.name() != names[i]) continue;
      seen[i] = true;
      values[i] = f.value();
    }
  }
  return values;
}

}  // namespace sovereign::gateway
