#include "gateway/openai/stream_end.hpp"

#include <cstring>
#include <string_view>

namespace sovereign::gateway {
namespace {

bool is_end_line(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line == "data: [DONE]" || line == "data:[DONE]";
}

// The length of the blank line that starts `rest` ("\n" or "\r\n"), or 0.
std::size_t blank_line_at(std::string_view rest) {
  if (rest.starts_with('\n')) return 1;
  if (rest.starts_with("\r\n")) return 2;
  return 0;
}

}  // namespace

void StreamEnd::cut(std::string& bytes) {
  if (ended_) return bytes.clear();
  std::size_t at = 0;
  while (at < bytes.size()) {
    const void* found = std::memchr(bytes.data() + at, '\n', bytes.size() - at);
    const std::size_t newline = found ? static_cast<std::size_t>(static_cast<const char*>(found) - bytes.data()) : bytes.size();
    // Only the first bytes of a line are kept: a line longer than the end line is not it.
    if (!line_too_long_) {
      if (line_.size() + (newline - at) > longest_end_line) {
        line_too_long_ = true;
        line_.clear();
      } else {
        line_.append(bytes, at, newline - at);
      }
    }
    if (found == nullptr) return;
    const bool end = !line_too_long_ && is_end_line(line_);
    const bool crlf = line_.ends_with('\r');
    line_.clear();
    line_too_long_ = false;
    at = newline + 1;
    if (!end) continue;
    ended_ = true;
    const std::size_t blank = blank_line_at(std::string_view(bytes).substr(at));
    bytes.resize(at + blank);
    if (blank == 0) bytes += crlf ? "\r\n" : "\n";  // in the line ending the backend writes
    return;
  }
}

}  // namespace sovereign::gateway
