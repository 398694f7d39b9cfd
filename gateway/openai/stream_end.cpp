#include "gateway/openai/stream_end.hpp"

#include <utility>

#include "gateway/openai/text_search.hpp"

namespace sovereign::gateway {
namespace {

bool is_end_line(std::string_view line) { return line == "data: [DONE]" || line == "data:[DONE]"; }

// The length of the blank line that starts `rest` ("\n" or "\r\n"; in a stream whose end line ended
// with a lone CR, "\r" too), or 0.
std::size_t blank_line_at(std::string_view rest, bool lone_cr) {
  if (rest.starts_with('\n')) return 1;
  if (rest.starts_with("\r\n")) return 2;
  if (lone_cr && rest.starts_with('\r')) return 1;
  return 0;
}

}  // namespace

void StreamEnd::end_at(std::string& bytes, std::size_t at, std::string_view line_end) {
  ended_ = true;
  const std::size_t blank = blank_line_at(std::string_view(bytes).substr(at), line_end == "\r");
  bytes.resize(at + blank);
  if (blank == 0) bytes += line_end;  // in the line ending the backend writes
}

void StreamEnd::cut(std::string& bytes) {
  if (ended_) return bytes.clear();
  if (bytes.empty()) return;
  std::size_t at = 0;
  if (std::exchange(after_cr_, false)) {
    const bool lf = bytes.front() == '\n';
    if (std::exchange(end_line_at_cr_, false)) return end_at(bytes, lf ? 1 : 0, lf ? "\r\n" : "\r");
    if (lf) at = 1;  // the LF of a CRLF whose CR came with the bytes before
  }
  while (at < bytes.size()) {
    const std::size_t stop = find_either_byte(bytes, '\r', '\n', at);
    const std::size_t line_stop = stop == std::string::npos ? bytes.size() : stop;
    // Only the first bytes of a line are kept: a line longer than the end line is not it.
    if (!line_too_long_) {
      if (line_.size() + (line_stop - at) > longest_end_line) {
        line_too_long_ = true;
        line_.clear();
      } else {
        line_.append(bytes, at, line_stop - at);
      }
    }
    if (stop == std::string::npos) return;
    const bool end = !line_too_long_ && is_end_line(line_);
    line_.clear();
    line_too_long_ = false;
    at = stop + 1;
    if (bytes[stop] == '\n') {
      if (end) return end_at(bytes, at, "\n");
      continue;
    }
    if (at == bytes.size()) {  // a CR last: whether an LF follows it is for the next bytes to say
      after_cr_ = true;
      end_line_at_cr_ = end;
      return;
    }
    const bool crlf = bytes[at] == '\n';
    if (crlf) ++at;
    if (end) return end_at(bytes, at, crlf ? "\r\n" : "\r");
  }
}

void StreamEnd::finish(std::string& bytes) {
  if (ended_) return;
  if (std::exchange(after_cr_, false)) {
    if (std::exchange(end_line_at_cr_, false)) end_at(bytes, bytes.size(), "\r");
    return;
  }
  if (!line_too_long_ && is_end_line(line_)) {
    bytes += '\n';
    end_at(bytes, bytes.size(), "\n");
  }
  line_.clear();
}

}  // namespace sovereign::gateway
