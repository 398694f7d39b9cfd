#include "accel/compute/text_stream.hpp"

#include <algorithm>

namespace sovereign::accel::compute {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Expected length of a sequence from its first byte; 0 for bytes that cannot start one.
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

std::size_t take_complete_utf8(std::string_view bytes, std::string& out) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const std::size_t len = sequence_length(static_cast<unsigned char>(bytes[i]));
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (i + len > bytes.size()) {
      // Possibly a character still arriving: stop unless what is there is already invalid.
      bool valid_so_far = true;
      for (std::size_t j = i + 1; j < bytes.size(); ++j)
        valid_so_far = valid_so_far && is_continuation(static_cast<unsigned char>(bytes[j]));
      if (valid_so_far) break;
    }
    std::size_t j = 1;
    while (j < len && i + j < bytes.size() && is_continuation(static_cast<unsigned char>(bytes[i + j]))) ++j;
    if (j < len) {
      out += kReplacement;
      i += j;
      continue;
    }
    out.append(bytes.substr(i, len));
    i += len;
  }
  return i;
}

TextStream::TextStream(std::vector<std::string> stop_strings) {
  for (std::string& s : stop_strings)
    if (!s.empty()) stops_.push_back(std::move(s));
}

TextStream::Output TextStream::push(std::string_view token_bytes) {
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
