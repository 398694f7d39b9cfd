#pragma once
// Server-sent events end their lines with LF, CRLF or a lone CR, and a stream may begin with a
// byte-order mark (which readers drop). Clients such as OpenAI's read all of these; code that splits
// on LF alone would see `": note\rdata: {...}"` as one comment line that a client reads as a comment
// and a data line. Before the gateway reads a stream's events it writes every line end as LF and drops
// the mark, so that what it checks is what a client will read.
#include <string>
#include <string_view>

namespace sovereign::gateway {

class SseLineEnds {
 public:
  // The next bytes of the stream, split anywhere, with their line ends written as LF. A CR at the
  // end of the bytes is held until the next bytes say whether an LF follows it (finish() releases it).
  std::string normalize(std::string_view bytes);
  std::string finish();

 private:
  bool held_cr_ = false;
  std::string start_;  // the stream's first bytes while they may still be a byte-order mark
  bool started_ = false;
};

}  // namespace sovereign::gateway
