#pragma once
// Where a streamed answer ends when the gateway relays it untouched: OpenAI's streams end with the
// line `data: [DONE]`. What a backend sends after it is no part of the answer, and a backend that
// keeps its body open after it would otherwise hold the client's answer (and the request's access
// log line and outcome record) until its timeout. The answer rewriter (a response policy, tokens
// to restore) ends streams at the same line; this does it for the bytes it does not parse.
#include <cstddef>
#include <string>

namespace sovereign::gateway {

class StreamEnd {
 public:
  // Takes the next bytes of the stream, split anywhere. Once they complete the `data: [DONE]` line
  // (with or without the space, LF or CRLF), `bytes` is cut just after that line and the blank line
  // that ends its event: the backend's own when these bytes hold it, else one added (CRLF after a
  // CRLF line). Bytes fed after the end are all cut.
  void cut(std::string& bytes);
  bool ended() const { return ended_; }

 private:
  static constexpr std::size_t longest_end_line = 14;  // "data: [DONE]\r\n" less its LF
  std::string line_;         // the current line's bytes, while it could still be the end line
  bool line_too_long_ = false;
  bool ended_ = false;
};

}  // namespace sovereign::gateway
