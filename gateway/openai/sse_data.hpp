#pragma once
// The data of a server-sent event as a client reads it: the values of all its `data` lines joined
// with LF (the SSE specification; servers and proxies may write one JSON value over several lines,
// and OpenAI's client joins them before it parses). Lines are those SseLineEnds has written with LF.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sovereign::gateway {

// The value of `line` when it is a data line ("data:" then its value, one leading space dropped; or
// the bare field name "data", an empty value), else nothing: another field or a comment.
std::optional<std::string_view> sse_data_value(std::string_view line);

// Gathers the data lines of one event, fed line by line.
class SseEventData {
 public:
  // Whether `line` is a data line; its value is then added to the event's data.
  bool add_line(std::string_view line);
  // An event without a data line carries nothing (a client dispatches nothing for it).
  bool has_data() const { return lines_ > 0; }
  std::size_t lines() const { return lines_; }
  std::size_t size() const { return text_.size(); }
  const std::string& text() const { return text_; }
  void clear();

 private:
  std::string text_;
  std::size_t lines_ = 0;
};

}  // namespace sovereign::gateway
