#include "accel/compute/text_stream.hpp"

#include <algorithm>

namespace sovereign::accel::compute {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Expected length of a sequence from its first byte; 0 for bytes that cannot start one (C0 and C1
// only start overlong forms, F5-FF only code points above U+10FFFF).
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether `byte` may follow the `lead` of a sequence as its byte at `index` (1-based after the
// lead). The second byte's range depends on the lead so that overlong forms (E0 80-9F, F0 80-8F),
// UTF-16 surrogates (ED A0-BF) and code points above U+10FFFF (F4 90-BF) are refused (Unicode
// table 3-7).
bool may_follow(unsigned char lead, std::size_t index, unsigned char byte) {
  unsigned char low = 0x80, high = 0xBF;
  if (index == 1) {
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  }
  return byte >= low && byte <= high;
}

}  // namespace

std::size_t take_complete_utf8(std::string_view bytes, std::string& out) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    const std::size_t len = sequence_length(lead);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    // j: how many bytes from i form the start of a well-formed sequence.
    std::size_t j = 1;
    while (j < len && i + j < bytes.size() && may_follow(lead, j, static_cast<unsigned char>(bytes[i + j]))) ++j;
    if (j == len) {
      out.append(bytes.substr(i, len));
      i += len;
      continue;
    }
    // Possibly a character still arriving.
    if (i + j == bytes.size()) break;
    // Ill-formed: its maximal well-formed prefix becomes one U+FFFD, as WHATWG and most engines do.
    out += kReplacement;
    i += j;
  }
  return i;
}

TextStream::TextStream(std::vector<std::string> stop_strings, bool drop_leading_space)
    : drop_leading_space_(drop_leading_space) {
  for (std::string& s : stop_strings)
    if (!s.empty()) stops_.push_back(std::move(s));
}

TextStream::Output TextStream::push(std::string_view token_bytes) {
  // Only the answer's first space goes, whichever token carries it (a word, a lone space, a byte
  // token), as a whole-sequence decode drops it; tokens that spell nothing (control tokens) come
  // before it without using up the drop. Stop strings are then matched on the text the client sees.
  if (drop_leading_space_ && !token_bytes.empty()) {
    drop_leading_space_ = false;
    if (token_bytes.front() == ' ') token_bytes.remove_prefix(1);
  }
  partial_.append(token_bytes);
  const std::size_t used = take_complete_utf8(partial_, held_);
  partial_.erase(0, used);

  Output out;
  std::size_t first_stop = std::string::npos;
  for (const std::string& stop : stops_) first_stop = std::min(first_stop, held_.find(stop));
  if (first_stop != std::string::npos) {
    out.text = held_.substr(0, first_stop);
    out.stopped = true;
    held_.clear();
    partial_.clear();
    return out;
  }
  // Keep back the longest tail of held_ that some stop string starts with.
  std::size_t keep = 0;
  for (const std::string& stop : stops_)
    for (std::size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
  out.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string TextStream::finish() {
  std::string out = std::move(held_);
  held_.clear();
  if (!partial_.empty()) out += kReplacement;
  partial_.clear();
  return out;
}

}  // namespace sovereign::accel::compute
