#include "gateway/openai/sse_lines.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sovereign::gateway {
namespace {

constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";

}  // namespace

std::string SseLineEnds::normalize(std::string_view bytes) {
  // No bytes say nothing of a CR held from the last ones: it stays held (an LF may still follow).
  if (bytes.empty()) return {};
  std::string joined;
  if (!started_) {
    // The mark may come split: its bytes are kept until they differ from it or complete it.
    start_.append(bytes);
    const std::size_t n = std::min(start_.size(), byte_order_mark.size());
    if (start_.compare(0, n, byte_order_mark, 0, n) == 0 && start_.size() < byte_order_mark.size()) return {};
    started_ = true;
    joined = std::move(start_);
    if (joined.starts_with(byte_order_mark)) joined.erase(0, byte_order_mark.size());
    bytes = joined;
  }
  std::string out;
  out.reserve(bytes.size() + 1);
  std::size_t at = 0;
  if (held_cr_) {
    held_cr_ = false;
    out += '\n';
    if (!bytes.empty() && bytes[0] == '\n') at = 1;  // the CR's LF: one line end
  }
  while (at < bytes.size()) {
    const void* cr = std::memchr(bytes.data() + at, '\r', bytes.size() - at);
    const std::size_t end = cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - bytes.data()) : bytes.size();
    out.append(bytes, at, end - at);
    if (cr == nullptr) break;
    if (end + 1 == bytes.size()) {
      held_cr_ = true;
      break;
    }
    out += '\n';
    at = end + (bytes[end + 1] == '\n' ? 2 : 1);
  }
  return out;
}

std::string SseLineEnds::finish() {
  std::string out = started_ ? std::string() : std::exchange(start_, {});
  started_ = true;
  if (std::exchange(held_cr_, false)) out += '\n';
  return out;
}

}  // namespace sovereign::gateway
