#pragma once
// The plumbing of the tests' generators of JSON answers and events (answer_texts_test.cpp,
// event_texts_test.cpp): objects of members in any order, with any spacing, keys now and then
// escaped (the parser then gives them in parts), and the random choices behind them.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace sovereign::gateway::testing {

class JsonGenerator {
 public:
  // `spaces`: what may stand between tokens; `escaped_keys`: the percentage of keys written with an escape.
  JsonGenerator(std::uint32_t seed, std::vector<const char*> spaces, int escaped_keys)
      : random_(seed), spaces_(std::move(spaces)), escaped_keys_(escaped_keys) {}

 protected:
  using Members = std::vector<std::pair<std::string, std::string>>;

  std::string object(const Members& given) {
    Members members = given;
    std::shuffle(members.begin(), members.end(), random_);
    std::string out = "{" + space();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out += "," + space();
      out += key(members[i].first) + space() + ":" + space() + members[i].second;
    }
    return out + space() + "}";
  }

  std::string key(const std::string& name) {
    if (name.empty() || !chance(escaped_keys_)) return "\"" + name + "\"";
    static constexpr char digits[] = "0123456789abcdef";
    const auto c = static_cast<unsigned char>(name[0]);
    return std::string("\"\\u00") + digits[c >> 4] + digits[c & 15] + name.substr(1) + "\"";
  }

  std::string space() { return spaces_[pick(spaces_.size())]; }
  std::string one_of(std::initializer_list<const char*> values) { return *(values.begin() + pick(values.size())); }
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }

  std::mt19937 random_;

 private:
  std::vector<const char*> spaces_;
  int escaped_keys_;
};

}  // namespace sovereign::gateway::testing
