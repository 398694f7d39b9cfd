#pragma once
// Where a streamed answer ends when the gateway relays it untouched: OpenAI's streams end with the
// line `data: [DONE]`. What a backend sends after it is no part of the answer, and a backend that
// keeps its body open after it would otherwise hold the client's answer (and the request's access
// log line and outcome record) until its timeout. The one reader of where a stream ends: the
// forwarder (a stream relayed untouched), the answer rewriter (a response policy, tokens to restore:
// the end line's event is where it ends the stream) and the outcome gate all use it.
#include <cstddef>
#include <string>
#include <string_view>

namespace sovereign::gateway {

class StreamEnd {
 public:
  // Takes the next bytes of the stream, split anywhere. Once they complete the `data: [DONE]` line
  // (with or without the space; ended by LF, CRLF or a lone CR, as server-sent events' lines are and
  // as clients read them), `bytes` is cut just after that line and the blank line that ends its
  // event: the backend's own when these bytes hold it, else one added in the end line's own line
  // ending. Bytes fed after the end are all cut. An end line whose CR is the last byte fed so far
  // ends with the next byte, which says whether it is a CRLF or a lone CR.
  void cut(std::string& bytes);
  // The body ended after the bytes fed last. An end line it left without its line ending (or
  // whose lone CR was the last byte) ends the stream too: `bytes`, the last bytes fed, then get the
  // line ending and the blank line that end its event.
  void finish(std::string& bytes);
  bool ended() const { return ended_; }

 private:
  // Ends the stream after the end line, whose line ending (`line_end`) stops at `at` in `bytes`.
  void end_at(std::string& bytes, std::size_t at, std::string_view line_end);

  static constexpr std::size_t longest_end_line = 12;  // "data: [DONE]", its line ending apart
  std::string line_;         // the current line's bytes, while it could still be the end line
  bool line_too_long_ = false;
  bool after_cr_ = false;          // the last byte fed was a CR ending a line: an LF next is its own
  bool end_line_at_cr_ = false;    // ... and that line was the end line
  bool ended_ = false;
};

}  // namespace sovereign::gateway
