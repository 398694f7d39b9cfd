#pragma once
// WordSet: a fixed set of short words (the API's key names, its vocabulary), looked up by length and
// first and last character: one slot, then a comparison or two. std::unordered_set hashed every byte
// and divided by a prime, about 19 ns a lookup; a request under a policy looks up each of its keys
// and short values (measured: about 24 lookups for a four-message chat request).
#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

namespace sovereign::gateway {

class WordSet {
 public:
  template <std::size_t N>
  explicit WordSet(const std::string_view (&words)[N]) {
    for (std::string_view word : words)
      if (!word.empty()) slots_[slot(word)].push_back(word);
  }

  bool contains(std::string_view word) const {
    if (word.empty()) return false;
    for (std::string_view candidate : slots_[slot(word)])
      if (candidate == word) return true;
    return false;
  }

 private:
  static std::size_t slot(std::string_view word) {
    return (word.size() * 7 + static_cast<unsigned char>(word.front()) * 3 + static_cast<unsigned char>(word.back())) %
           slot_count;
  }
  static constexpr std::size_t slot_count = 256;
  std::array<std::vector<std::string_view>, slot_count> slots_;
};

}  // namespace sovereign::gateway
