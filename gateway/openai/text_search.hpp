#pragma once
// Substring search for the short, fixed needles the request decoder looks for in every body
// ("\"model\"", "\\u00"). glibc's memmem was the decoder's largest single cost (a quarter of it,
// measured with perf on the gateway benchmark): it scans byte by byte. This one compares the
// needle's first and last bytes at sixteen positions at once and confirms only where both match
// (the "generic SIMD" search of W. Muła); in JSON, a quote that begins a key is common, a quote
// exactly six bytes later much rarer. GCC vector extensions: SSE2 on x86-64, NEON on AArch64.

#include <cstdint>
#include <cstring>
#include <string_view>

namespace sovereign::gateway {

inline std::size_t find_text(std::string_view haystack, std::string_view needle) noexcept {
  const std::size_t n = needle.size();
  if (n == 0) return 0;
  if (haystack.size() < n) return std::string_view::npos;
  const char* text = haystack.data();
  const std::size_t starts = haystack.size() - n + 1;  // positions a match can begin at
  const auto matches_at = [&](std::size_t i) {
    return text[i] == needle.front() && text[i + n - 1] == needle.back() &&
           std::memcmp(text + i + 1, needle.data() + 1, n > 2 ? n - 2 : 0) == 0;
  };
  using Block = unsigned char __attribute__((vector_size(16)));
  constexpr std::size_t width = sizeof(Block);
  const auto first = static_cast<unsigned char>(needle.front());
  const auto last = static_cast<unsigned char>(needle.back());
  // The positions in [at, at + width) where the first and the last byte both match.
  const auto candidates = [&](std::size_t at) {
    Block head, tail;
    std::memcpy(&head, text + at, width);
    std::memcpy(&tail, text + at + n - 1, width);  // in bounds: at + width <= starts
    return (head == first) & (tail == last);
  };
  const auto none = [](const auto& block) {
    std::uint64_t halves[2];
    std::memcpy(halves, &block, sizeof halves);
    return (halves[0] | halves[1]) == 0;
  };
  std::size_t i = 0;
  // Two blocks a step: one test for both keeps the loop's branch off the critical path.
  for (; i + 2 * width <= starts; i += 2 * width) {
    const auto low = candidates(i), high = candidates(i + width);
    if (none(low | high)) continue;
    for (std::size_t j = 0; j < width; ++j)
      if (low[j] != 0 && matches_at(i + j)) return i + j;
    for (std::size_t j = 0; j < width; ++j)
      if (high[j] != 0 && matches_at(i + width + j)) return i + width + j;
  }
  if (i + width <= starts) {
    const auto block = candidates(i);
    if (!none(block))
      for (std::size_t j = 0; j < width; ++j)
        if (block[j] != 0 && matches_at(i + j)) return i + j;
    i += width;
  }
  for (; i < starts; ++i)
    if (matches_at(i)) return i;
  return std::string_view::npos;
}

// The first place at or after `from` that holds byte `a` or byte `b`; npos if none does. A stream's
// line ends (CR, LF) are looked for with it: std::string_view::find_first_of calls memchr over the
// set for every byte of the text, which made a quarter of a streamed answer's relaying (perf, 44
// events of 240 bytes an answer). Sixteen bytes compared with both at once a step.
inline std::size_t find_either_byte(std::string_view text, char a, char b, std::size_t from = 0) noexcept {
  using Block = unsigned char __attribute__((vector_size(16)));
  constexpr std::size_t width = sizeof(Block);
  const auto first = static_cast<unsigned char>(a);
  const auto second = static_cast<unsigned char>(b);
  std::size_t i = from;
  for (; i + width <= text.size(); i += width) {
    Block block;
    std::memcpy(&block, text.data() + i, width);
    const auto found = (block == first) | (block == second);
    std::uint64_t halves[2];
    std::memcpy(halves, &found, sizeof halves);
    if ((halves[0] | halves[1]) == 0) continue;
    for (std::size_t j = 0;; ++j)
      if (found[j] != 0) return i + j;
  }
  for (; i < text.size(); ++i)
    if (text[i] == a || text[i] == b) return i;
  return std::string_view::npos;
}

}  // namespace sovereign::gateway
