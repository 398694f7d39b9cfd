#pragma once
// Whether two streams of server-sent events that the response rewriter wrote read alike to a client:
// the same lines, where a data line is either the same bytes or, in both, JSON of the same value (an
// event whose changed texts were written in their places against the same event parsed and written
// again: same_value). Shared by the tests of the rewriter's two readings and the response fuzz target.
#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace sovereign::gateway::testing {

inline std::vector<std::string_view> split(std::string_view text, std::string_view separator) {
  std::vector<std::string_view> parts;
  for (std::size_t at = 0;;) {
    const std::size_t end = text.find(separator, at);
    parts.push_back(text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    if (end == std::string_view::npos) return parts;
    at = end + separator.size();
  }
}

// Whether two JSON values are alike: the same members in the same order, the same strings, and the
// same numbers, where a number a backend wrote beyond what a double holds exactly (left as written
// where an event's texts are written in place; read into a double and written again where it is
// parsed, by a parser that is not exact to the last bit) is the same within rounding.
inline bool same_value(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_double() || b.is_double()) {
      const double x = a.to_number<double>(), y = b.to_number<double>();
      return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
    }
    return a == b;
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
      if (i->key() != j->key() || !same_value(i->value(), j->value())) return false;
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!same_value(x[i], y[i])) return false;
    return true;
  }
  return a == b;
}

inline bool read_alike(std::string_view one, std::string_view other) {
  const auto one_lines = split(one, "\n");
  const auto other_lines = split(other, "\n");
  if (one_lines.size() != other_lines.size()) return false;
  for (std::size_t i = 0; i < one_lines.size(); ++i) {
    if (one_lines[i] == other_lines[i]) continue;
    if (!one_lines[i].starts_with("data: ") || !other_lines[i].starts_with("data: ")) return false;
    boost::system::error_code ec1, ec2;
    const boost::json::value a = boost::json::parse(one_lines[i].substr(6), ec1);
    const boost::json::value b = boost::json::parse(other_lines[i].substr(6), ec2);
    if (ec1 || ec2 || !same_value(a, b)) return false;
  }
  return true;
}

}  // namespace sovereign::gateway::testing
